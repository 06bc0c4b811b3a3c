-- reverse: create index "article_published_at_id" to table: "articles"
DROP INDEX "article_published_at_id";
-- reverse: create index "article_publish_at" to table: "articles"
DROP INDEX "article_publish_at";
-- reverse: create index "article_author_id_updated_at_id" to table: "articles"
DROP INDEX "article_author_id_updated_at_id";
-- reverse: create index "article_author_id_published_at_id" to table: "articles"
DROP INDEX "article_author_id_published_at_id";
-- reverse: the indexes by creation
CREATE INDEX "article_created_at_id" ON "articles" ("created_at", "id");
CREATE INDEX "article_author_id_created_at_id" ON "articles" ("author_id", "created_at", "id");
-- reverse: modify "articles" table
ALTER TABLE "articles" DROP COLUMN "publish_at", DROP COLUMN "published_at", DROP COLUMN "status";

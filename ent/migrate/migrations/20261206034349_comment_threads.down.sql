-- reverse: create index "comment_parent_id_created_at_id" to table: "comments"
DROP INDEX "comment_parent_id_created_at_id";
-- reverse: create index "comment_article_id_created_at_id" to table: "comments"
DROP INDEX "comment_article_id_created_at_id";
-- reverse: modify "comments" table
ALTER TABLE "comments" DROP CONSTRAINT "comments_comments_replies", DROP COLUMN "parent_id", DROP COLUMN "deleted", DROP COLUMN "depth";
-- reverse: drop index "comment_article_id_created_at_id" from table: "comments"
CREATE INDEX "comment_article_id_created_at_id" ON "comments" ("article_id", "created_at", "id");

-- reverse: create index "article_deleted_at" to table: "articles"
DROP INDEX "article_deleted_at";
-- reverse: modify "articles" table
ALTER TABLE "articles" DROP COLUMN "trashed_from", DROP COLUMN "deleted_at";

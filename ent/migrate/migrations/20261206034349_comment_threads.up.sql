-- drop index "comment_article_id_created_at_id" from table: "comments"
DROP INDEX "comment_article_id_created_at_id";
-- modify "comments" table
ALTER TABLE "comments" ADD COLUMN "depth" smallint NOT NULL DEFAULT 0, ADD COLUMN "deleted" boolean NOT NULL DEFAULT false, ADD COLUMN "parent_id" bigint NULL, ADD CONSTRAINT "comments_comments_replies" FOREIGN KEY ("parent_id") REFERENCES "comments" ("id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- create index "comment_article_id_created_at_id" to table: "comments"
CREATE INDEX "comment_article_id_created_at_id" ON "comments" ("article_id", "created_at", "id") WHERE (parent_id IS NULL);
-- create index "comment_parent_id_created_at_id" to table: "comments"
CREATE INDEX "comment_parent_id_created_at_id" ON "comments" ("parent_id", "created_at", "id") WHERE (parent_id IS NOT NULL);

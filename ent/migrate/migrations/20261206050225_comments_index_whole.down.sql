-- reverse: create index "comment_article_id_created_at_id" to table: "comments"
DROP INDEX "comment_article_id_created_at_id";
-- reverse: drop index "comment_article_id_created_at_id" from table: "comments"
CREATE INDEX "comment_article_id_created_at_id" ON "comments" ("article_id", "created_at", "id") WHERE (parent_id IS NULL);

-- reverse: create index "articlerevision_article_id_created_at_id" to table: "article_revisions"
DROP INDEX "articlerevision_article_id_created_at_id";
-- reverse: create "article_revisions" table
DROP TABLE "article_revisions";

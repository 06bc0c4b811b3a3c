-- reverse: create index "articletag_tag_id_article_id" to table: "article_tags"
DROP INDEX "articletag_tag_id_article_id";
-- reverse: modify "article_tags" table
ALTER TABLE "article_tags" DROP CONSTRAINT "article_tags_tags_tag", DROP CONSTRAINT "article_tags_articles_article", ADD CONSTRAINT "article_tags_tag_id" FOREIGN KEY ("tag_id") REFERENCES "tags" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, ADD CONSTRAINT "article_tags_article_id" FOREIGN KEY ("article_id") REFERENCES "articles" ("id") ON UPDATE NO ACTION ON DELETE CASCADE;

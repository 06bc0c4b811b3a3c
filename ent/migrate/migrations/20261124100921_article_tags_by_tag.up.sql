-- modify "article_tags" table
ALTER TABLE "article_tags" DROP CONSTRAINT "article_tags_article_id", DROP CONSTRAINT "article_tags_tag_id", ADD CONSTRAINT "article_tags_articles_article" FOREIGN KEY ("article_id") REFERENCES "articles" ("id") ON UPDATE NO ACTION ON DELETE CASCADE, ADD CONSTRAINT "article_tags_tags_tag" FOREIGN KEY ("tag_id") REFERENCES "tags" ("id") ON UPDATE NO ACTION ON DELETE CASCADE;
-- create index "articletag_tag_id_article_id" to table: "article_tags"
CREATE INDEX "articletag_tag_id_article_id" ON "article_tags" ("tag_id", "article_id");

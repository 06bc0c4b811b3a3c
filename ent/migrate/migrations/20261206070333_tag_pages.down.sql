DROP INDEX "articletag_tag_id_published_at_article_id";
DROP TRIGGER "article_published_tags" ON "articles";
DROP FUNCTION inkwell_article_published_tags();
DROP TRIGGER "article_tag_published" ON "article_tags";
DROP FUNCTION inkwell_article_tag_published();
ALTER TABLE "article_tags" DROP COLUMN "published_at";

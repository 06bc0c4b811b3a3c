DROP INDEX "article_trending_score_published_at_id";
DROP INDEX "article_favorites_count_published_at_id";
DROP INDEX "article_comments_count_published_at_id";
DROP TRIGGER "comments_count" ON "comments";
DROP FUNCTION inkwell_count_comments();
DROP TRIGGER "article_trending" ON "articles";
DROP FUNCTION inkwell_article_trending();
DROP FUNCTION inkwell_trending(bigint, bigint, timestamptz);
ALTER TABLE "articles" DROP COLUMN "trending_score", DROP COLUMN "comments_count";

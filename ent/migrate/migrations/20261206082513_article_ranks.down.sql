DROP TRIGGER "article_rank" ON "articles";
DROP FUNCTION inkwell_article_rank();
DROP TABLE "article_ranks";
CREATE INDEX "article_trending_score_published_at_id" ON "articles" ("trending_score", "published_at", "id") WHERE ((status)::text = 'published'::text);
CREATE INDEX "article_favorites_count_published_at_id" ON "articles" ("favorites_count", "published_at", "id") WHERE ((status)::text = 'published'::text);
CREATE INDEX "article_comments_count_published_at_id" ON "articles" ("comments_count", "published_at", "id") WHERE ((status)::text = 'published'::text);

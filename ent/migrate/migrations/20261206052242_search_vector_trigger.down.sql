-- reverse: the articles' search_vector, generated again
DROP INDEX "article_search_vector";
DROP TRIGGER "article_search_vector" ON "articles";
DROP FUNCTION inkwell_article_search_vector();
ALTER TABLE "articles" DROP COLUMN "search_vector";
ALTER TABLE "articles" ADD COLUMN "search_vector" tsvector GENERATED ALWAYS AS (
  inkwell_tsvector(title, 'A') || inkwell_tsvector(description, 'B') || inkwell_tsvector(search_tags, 'B')
  || inkwell_tsvector(body, 'C')) STORED;
CREATE INDEX "article_search_vector" ON "articles" USING gin ("search_vector") WHERE ((status)::text = 'published'::text);

-- The articles' search_vector, kept by a trigger instead of generated: PostgreSQL computes
-- a generated column again on every UPDATE of its row, so each favorite (which updates
-- favorites_count) re-parsed the article's whole text. The trigger runs only when a text
-- the vector is made of changes.
DROP INDEX "article_search_vector";
ALTER TABLE "articles" DROP COLUMN "search_vector";
ALTER TABLE "articles" ADD COLUMN "search_vector" tsvector;
CREATE FUNCTION inkwell_article_search_vector() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  NEW.search_vector := inkwell_tsvector(NEW.title, 'A') || inkwell_tsvector(NEW.description, 'B')
    || inkwell_tsvector(NEW.search_tags, 'B') || inkwell_tsvector(NEW.body, 'C');
  RETURN NEW;
END
$$;
CREATE TRIGGER "article_search_vector" BEFORE INSERT OR UPDATE OF title, description, body, search_tags
  ON "articles" FOR EACH ROW EXECUTE FUNCTION inkwell_article_search_vector();
UPDATE "articles" SET "search_vector" = inkwell_tsvector(title, 'A') || inkwell_tsvector(description, 'B')
  || inkwell_tsvector(search_tags, 'B') || inkwell_tsvector(body, 'C');
CREATE INDEX "article_search_vector" ON "articles" USING gin ("search_vector") WHERE ((status)::text = 'published'::text);

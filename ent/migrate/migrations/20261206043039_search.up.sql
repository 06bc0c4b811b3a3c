-- modify "articles" table
ALTER TABLE "articles" ADD COLUMN "search_tags" text NOT NULL DEFAULT '';
-- Full-text search, written by hand: ent has no generated columns or GIN indexes (the
-- drift check never drops what ent/schema does not name).
CREATE EXTENSION IF NOT EXISTS unaccent WITH SCHEMA public;
-- unaccent() is STABLE (its dictionary could change); a generated column needs an
-- IMMUTABLE function, so this one names the dictionary itself.
CREATE FUNCTION inkwell_unaccent(text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
  AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$;
-- Each text twice: stemmed in English, and as written (simple), both without accents.
-- A query is English unless English leaves nothing of it (stop words only); then simple.
CREATE FUNCTION inkwell_tsvector(text, "char") RETURNS tsvector
  LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
  AS $$ SELECT setweight(to_tsvector('english'::regconfig, inkwell_unaccent($1)), $2)
            || setweight(to_tsvector('simple'::regconfig, inkwell_unaccent($1)), $2) $$;
CREATE FUNCTION inkwell_tsquery(text) RETURNS tsquery
  LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
  AS $$ SELECT CASE WHEN numnode(e) > 0 THEN e ELSE websearch_to_tsquery('simple'::regconfig, inkwell_unaccent($1)) END
          FROM websearch_to_tsquery('english'::regconfig, inkwell_unaccent($1)) AS e $$;
-- Title over description and tags over body.
ALTER TABLE "articles" ADD COLUMN "search_vector" tsvector GENERATED ALWAYS AS (
  inkwell_tsvector(title, 'A') || inkwell_tsvector(description, 'B') || inkwell_tsvector(search_tags, 'B')
  || inkwell_tsvector(body, 'C')) STORED;
CREATE INDEX "article_search_vector" ON "articles" USING gin ("search_vector") WHERE ((status)::text = 'published'::text);
ALTER TABLE "users" ADD COLUMN "search_vector" tsvector GENERATED ALWAYS AS (
  inkwell_tsvector(username, 'A') || inkwell_tsvector(bio, 'B')) STORED;
CREATE INDEX "user_search_vector" ON "users" USING gin ("search_vector");
ALTER TABLE "tags" ADD COLUMN "search_vector" tsvector GENERATED ALWAYS AS (inkwell_tsvector(name, 'A')) STORED;
CREATE INDEX "tag_search_vector" ON "tags" USING gin ("search_vector");
-- The tags of the articles that exist.
UPDATE "articles" a SET "search_tags" = t.names
  FROM (SELECT at.article_id, string_agg(tg.name, ' ' ORDER BY tg.name) AS names
          FROM article_tags at JOIN tags tg ON tg.id = at.tag_id GROUP BY at.article_id) t
 WHERE t.article_id = a.id;

-- pg_dump's output restores with an empty search_path, and a table's generated column is
-- computed while its rows are loaded: inkwell_tsvector must find inkwell_unaccent
-- without one, or pg_restore fails on "articles" and "tags". The functions say the schema.
CREATE OR REPLACE FUNCTION inkwell_tsvector(text, "char") RETURNS tsvector
  LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
  AS $$ SELECT setweight(to_tsvector('english'::regconfig, public.inkwell_unaccent($1)), $2)
            || setweight(to_tsvector('simple'::regconfig, public.inkwell_unaccent($1)), $2) $$;
CREATE OR REPLACE FUNCTION inkwell_tsquery(text) RETURNS tsquery
  LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
  AS $$ SELECT CASE WHEN numnode(e) > 0 THEN e ELSE websearch_to_tsquery('simple'::regconfig, public.inkwell_unaccent($1)) END
          FROM websearch_to_tsquery('english'::regconfig, public.inkwell_unaccent($1)) AS e $$;

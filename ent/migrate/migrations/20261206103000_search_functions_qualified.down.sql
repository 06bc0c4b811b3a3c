CREATE OR REPLACE FUNCTION inkwell_tsvector(text, "char") RETURNS tsvector
  LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
  AS $$ SELECT setweight(to_tsvector('english'::regconfig, inkwell_unaccent($1)), $2)
            || setweight(to_tsvector('simple'::regconfig, inkwell_unaccent($1)), $2) $$;
CREATE OR REPLACE FUNCTION inkwell_tsquery(text) RETURNS tsquery
  LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
  AS $$ SELECT CASE WHEN numnode(e) > 0 THEN e ELSE websearch_to_tsquery('simple'::regconfig, inkwell_unaccent($1)) END
          FROM websearch_to_tsquery('english'::regconfig, inkwell_unaccent($1)) AS e $$;

-- modify "articles" table
ALTER TABLE "articles" ADD COLUMN "subtitle" character varying NOT NULL DEFAULT '', ADD COLUMN "canonical_url" character varying NOT NULL DEFAULT '', ADD COLUMN "seo_title" character varying NOT NULL DEFAULT '', ADD COLUMN "seo_description" character varying NOT NULL DEFAULT '';

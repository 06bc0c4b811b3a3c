-- reverse: modify "articles" table
ALTER TABLE "articles" DROP COLUMN "seo_description", DROP COLUMN "seo_title", DROP COLUMN "canonical_url", DROP COLUMN "subtitle";

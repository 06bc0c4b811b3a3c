-- reverse: full-text search
DROP INDEX "tag_search_vector";
ALTER TABLE "tags" DROP COLUMN "search_vector";
DROP INDEX "user_search_vector";
ALTER TABLE "users" DROP COLUMN "search_vector";
DROP INDEX "article_search_vector";
ALTER TABLE "articles" DROP COLUMN "search_vector";
DROP FUNCTION inkwell_tsquery(text);
DROP FUNCTION inkwell_tsvector(text, "char");
DROP FUNCTION inkwell_unaccent(text);
-- reverse: modify "articles" table
ALTER TABLE "articles" DROP COLUMN "search_tags";

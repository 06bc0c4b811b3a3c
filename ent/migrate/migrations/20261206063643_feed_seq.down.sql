-- reverse: create index "article_feed_seq" to table: "articles"
DROP INDEX "article_feed_seq";
-- reverse: modify "articles" table
ALTER TABLE "articles" DROP COLUMN "feed_seq";

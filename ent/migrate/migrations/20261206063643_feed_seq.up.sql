-- modify "articles" table
ALTER TABLE "articles" ADD COLUMN "feed_seq" bigint NULL;
-- create index "article_feed_seq" to table: "articles"
CREATE INDEX "article_feed_seq" ON "articles" ("feed_seq") WHERE (feed_seq IS NOT NULL);

-- modify "articles" table
ALTER TABLE "articles" ADD COLUMN "status" character varying NOT NULL DEFAULT 'published', ADD COLUMN "published_at" timestamptz NULL, ADD COLUMN "publish_at" timestamptz NULL;
-- every article so far was published when it was created
UPDATE "articles" SET "published_at" = "created_at";
-- the lists are by publication now: the indexes by creation go (dropped by hand, on purpose)
DROP INDEX "article_created_at_id";
DROP INDEX "article_author_id_created_at_id";
-- create index "article_author_id_published_at_id" to table: "articles"
CREATE INDEX "article_author_id_published_at_id" ON "articles" ("author_id", "published_at", "id") WHERE ((status)::text = 'published'::text);
-- create index "article_author_id_updated_at_id" to table: "articles"
CREATE INDEX "article_author_id_updated_at_id" ON "articles" ("author_id", "updated_at", "id") WHERE ((status)::text <> 'published'::text);
-- create index "article_publish_at" to table: "articles"
CREATE INDEX "article_publish_at" ON "articles" ("publish_at") WHERE ((status)::text = 'scheduled'::text);
-- create index "article_published_at_id" to table: "articles"
CREATE INDEX "article_published_at_id" ON "articles" ("published_at", "id") WHERE ((status)::text = 'published'::text);

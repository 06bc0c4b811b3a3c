-- modify "articles" table
ALTER TABLE "articles" ADD COLUMN "deleted_at" timestamptz NULL, ADD COLUMN "trashed_from" character varying NULL;
-- create index "article_deleted_at" to table: "articles"
CREATE INDEX "article_deleted_at" ON "articles" ("deleted_at") WHERE ((status)::text = 'trashed'::text);

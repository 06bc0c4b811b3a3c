-- modify "articles" table
ALTER TABLE "articles" ADD COLUMN "body_html" text NOT NULL DEFAULT '', ADD COLUMN "excerpt" character varying NOT NULL DEFAULT '', ADD COLUMN "word_count" bigint NOT NULL DEFAULT 0, ADD COLUMN "reading_time_minutes" bigint NOT NULL DEFAULT 1, ADD COLUMN "toc" jsonb NOT NULL DEFAULT '[]', ADD COLUMN "render_version" bigint NOT NULL DEFAULT 0;

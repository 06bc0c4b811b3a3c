-- reverse: modify "articles" table
ALTER TABLE "articles" DROP COLUMN "render_version", DROP COLUMN "toc", DROP COLUMN "reading_time_minutes", DROP COLUMN "word_count", DROP COLUMN "excerpt", DROP COLUMN "body_html";

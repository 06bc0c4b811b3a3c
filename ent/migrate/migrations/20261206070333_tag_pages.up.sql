-- Tag pages (issue 14): a tag's published articles newest first from one index, instead of
-- sorting every article of a popular tag. article_tags.published_at mirrors the article's
-- publication, kept by triggers so that no write path (publish, unpublish, trash,
-- restore, retag) can forget it.
ALTER TABLE "article_tags" ADD COLUMN "published_at" timestamptz NULL;

CREATE FUNCTION inkwell_article_tag_published() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  NEW.published_at := (SELECT a.published_at FROM articles a WHERE a.id = NEW.article_id AND a.status = 'published');
  RETURN NEW;
END
$$;
CREATE TRIGGER "article_tag_published" BEFORE INSERT
  ON "article_tags" FOR EACH ROW EXECUTE FUNCTION inkwell_article_tag_published();

CREATE FUNCTION inkwell_article_published_tags() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  UPDATE article_tags SET published_at = CASE WHEN NEW.status = 'published' THEN NEW.published_at END
   WHERE article_id = NEW.id;
  RETURN NULL;
END
$$;
CREATE TRIGGER "article_published_tags" AFTER UPDATE OF status, published_at
  ON "articles" FOR EACH ROW
  WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.published_at IS DISTINCT FROM NEW.published_at)
  EXECUTE FUNCTION inkwell_article_published_tags();

UPDATE "article_tags" t SET "published_at" = a.published_at FROM articles a
 WHERE a.id = t.article_id AND a.status = 'published';

CREATE INDEX "articletag_tag_id_published_at_article_id" ON "article_tags" ("tag_id", "published_at", "article_id") WHERE (published_at IS NOT NULL);

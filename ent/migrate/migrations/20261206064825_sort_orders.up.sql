-- Sort orders (issue 14): each order's first page is a scan of its index, so the keys are
-- columns. comments_count and trending_score are kept by triggers, so no write path (a
-- comment, a cascade, a purge) can forget them.
ALTER TABLE "articles" ADD COLUMN "comments_count" bigint NOT NULL DEFAULT 0, ADD COLUMN "trending_score" double precision NOT NULL DEFAULT 0;

-- One order of magnitude of engagement (favorites, and comments twice) is worth 12.5
-- hours of age: a score that only changes when the engagement does, so cursors hold.
CREATE FUNCTION inkwell_trending(favorites bigint, comments bigint, published timestamptz) RETURNS double precision
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN CASE WHEN published IS NULL THEN 0
    ELSE log(greatest(1, favorites + 2 * comments)::double precision)
         + extract(epoch FROM published)::double precision / 45000 END;

CREATE FUNCTION inkwell_article_trending() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  NEW.trending_score := inkwell_trending(NEW.favorites_count, NEW.comments_count, NEW.published_at);
  RETURN NEW;
END
$$;
CREATE TRIGGER "article_trending" BEFORE INSERT OR UPDATE OF favorites_count, comments_count, published_at
  ON "articles" FOR EACH ROW EXECUTE FUNCTION inkwell_article_trending();

-- Comments and replies count; a placeholder (deleted, kept for its replies) does not.
CREATE FUNCTION inkwell_count_comments() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NOT NEW.deleted THEN
      UPDATE articles SET comments_count = comments_count + 1 WHERE id = NEW.article_id;
    END IF;
  ELSIF TG_OP = 'DELETE' THEN
    IF NOT OLD.deleted THEN
      UPDATE articles SET comments_count = comments_count - 1 WHERE id = OLD.article_id;
    END IF;
  ELSIF NEW.deleted IS DISTINCT FROM OLD.deleted THEN
    UPDATE articles SET comments_count = comments_count + CASE WHEN NEW.deleted THEN -1 ELSE 1 END
     WHERE id = NEW.article_id;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER "comments_count" AFTER INSERT OR DELETE OR UPDATE OF deleted
  ON "comments" FOR EACH ROW EXECUTE FUNCTION inkwell_count_comments();

UPDATE "articles" a SET "comments_count" = (SELECT count(*) FROM comments c WHERE c.article_id = a.id AND NOT c.deleted);
UPDATE "articles" SET "trending_score" = inkwell_trending(favorites_count, comments_count, published_at);

CREATE INDEX "article_comments_count_published_at_id" ON "articles" ("comments_count", "published_at", "id") WHERE ((status)::text = 'published'::text);
CREATE INDEX "article_favorites_count_published_at_id" ON "articles" ("favorites_count", "published_at", "id") WHERE ((status)::text = 'published'::text);
CREATE INDEX "article_trending_score_published_at_id" ON "articles" ("trending_score", "published_at", "id") WHERE ((status)::text = 'published'::text);

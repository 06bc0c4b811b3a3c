-- create index "notification_open_groups" to table: "notifications"
CREATE INDEX "notification_open_groups" ON "notifications" ("user_id", "kind", "article_id") WHERE ((NOT superseded) AND (read_at IS NULL));

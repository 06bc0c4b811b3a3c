CREATE INDEX "notification_unread" ON "notifications" ("user_id") WHERE ((NOT superseded) AND (read_at IS NULL));

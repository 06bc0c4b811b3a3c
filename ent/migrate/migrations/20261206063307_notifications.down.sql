-- reverse: create index "notification_user_id_id" to table: "notifications"
DROP INDEX "notification_user_id_id";
-- reverse: create index "notification_unread" to table: "notifications"
DROP INDEX "notification_unread";
-- reverse: create index "notification_heads" to table: "notifications"
DROP INDEX "notification_heads";
-- reverse: create index "notification_group_id" to table: "notifications"
DROP INDEX "notification_group_id";
-- reverse: create index "notification_comment_id" to table: "notifications"
DROP INDEX "notification_comment_id";
-- reverse: create index "notification_article_id" to table: "notifications"
DROP INDEX "notification_article_id";
-- reverse: create index "notification_actor_id" to table: "notifications"
DROP INDEX "notification_actor_id";
-- reverse: create "notifications" table
DROP TABLE "notifications";

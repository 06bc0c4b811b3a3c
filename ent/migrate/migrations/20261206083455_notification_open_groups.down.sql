-- reverse: create index "notification_open_groups" to table: "notifications"
DROP INDEX "notification_open_groups";

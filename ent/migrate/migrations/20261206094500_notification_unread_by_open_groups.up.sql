-- The unread count reads notification_open_groups (same predicate, user_id first, and the
-- article for the visibility check), so this index only cost every new notification an
-- insert (issue 14's W4).
DROP INDEX "notification_unread";

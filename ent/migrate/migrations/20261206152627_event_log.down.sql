-- reverse: create index "eventlog_created_at" to table: "event_log"
DROP INDEX "eventlog_created_at";
-- reverse: create "event_log" table
DROP TABLE "event_log";

-- reverse: create index "user_email_token_hash" to table: "users"
DROP INDEX "user_email_token_hash";
-- reverse: modify "users" table
ALTER TABLE "users" DROP COLUMN "email_token_expires_at", DROP COLUMN "email_token_hash";

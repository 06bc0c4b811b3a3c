-- modify "users" table
ALTER TABLE "users" ADD COLUMN "email_token_hash" bytea NULL, ADD COLUMN "email_token_expires_at" timestamptz NULL;
-- create index "user_email_token_hash" to table: "users"
CREATE UNIQUE INDEX "user_email_token_hash" ON "users" ("email_token_hash");

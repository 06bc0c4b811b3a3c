-- reverse: create index "logincode_expires_at" to table: "login_codes"
DROP INDEX "logincode_expires_at";
-- reverse: create index "login_codes_code_hash_key" to table: "login_codes"
DROP INDEX "login_codes_code_hash_key";
-- reverse: create "login_codes" table
DROP TABLE "login_codes";
-- reverse: create index "identity_user_id_provider" to table: "identities"
DROP INDEX "identity_user_id_provider";
-- reverse: create index "identity_provider_subject" to table: "identities"
DROP INDEX "identity_provider_subject";
-- reverse: create "identities" table
DROP TABLE "identities";
-- reverse: modify "users" table
ALTER TABLE "users" ALTER COLUMN "password_hash" DROP DEFAULT, ALTER COLUMN "email" SET NOT NULL;

-- reverse: modify "users" table
ALTER TABLE "users" DROP COLUMN "email_verified";

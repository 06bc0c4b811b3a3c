-- reverse: modify "users" table
ALTER TABLE "users" DROP COLUMN "pending_email";

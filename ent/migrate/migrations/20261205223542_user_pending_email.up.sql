-- modify "users" table
ALTER TABLE "users" ADD COLUMN "pending_email" character varying NULL;

-- reverse: create index "users_username_skeleton_key" to table: "users"
DROP INDEX "users_username_skeleton_key";
-- reverse: modify "users" table
ALTER TABLE "users" DROP COLUMN "username_skeleton";

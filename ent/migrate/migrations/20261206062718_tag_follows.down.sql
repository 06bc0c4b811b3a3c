-- reverse: create index "tagfollow_user_id_tag_id" to table: "tag_follows"
DROP INDEX "tagfollow_user_id_tag_id";
-- reverse: create index "tagfollow_tag_id" to table: "tag_follows"
DROP INDEX "tagfollow_tag_id";
-- reverse: create "tag_follows" table
DROP TABLE "tag_follows";
-- reverse: modify "tags" table
ALTER TABLE "tags" DROP COLUMN "followers_count";

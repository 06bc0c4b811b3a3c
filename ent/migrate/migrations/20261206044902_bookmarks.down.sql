-- reverse: create index "bookmark_user_id_created_at_id" to table: "bookmarks"
DROP INDEX "bookmark_user_id_created_at_id";
-- reverse: create index "bookmark_user_id_article_id" to table: "bookmarks"
DROP INDEX "bookmark_user_id_article_id";
-- reverse: create "bookmarks" table
DROP TABLE "bookmarks";

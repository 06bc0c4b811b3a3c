-- reverse: create index "refreshtoken_user_id" to table: "refresh_tokens"
DROP INDEX "refreshtoken_user_id";
-- reverse: create index "refreshtoken_session_id" to table: "refresh_tokens"
DROP INDEX "refreshtoken_session_id";
-- reverse: create index "refresh_tokens_token_hash_key" to table: "refresh_tokens"
DROP INDEX "refresh_tokens_token_hash_key";
-- reverse: create "refresh_tokens" table
DROP TABLE "refresh_tokens";
-- reverse: create index "follow_follower_id_followee_id" to table: "follows"
DROP INDEX "follow_follower_id_followee_id";
-- reverse: create index "follow_follower_id_created_at" to table: "follows"
DROP INDEX "follow_follower_id_created_at";
-- reverse: create index "follow_followee_id_created_at" to table: "follows"
DROP INDEX "follow_followee_id_created_at";
-- reverse: create "follows" table
DROP TABLE "follows";
-- reverse: create index "favorite_article_id_user_id" to table: "favorites"
DROP INDEX "favorite_article_id_user_id";
-- reverse: create "favorites" table
DROP TABLE "favorites";
-- reverse: create index "comment_author_id" to table: "comments"
DROP INDEX "comment_author_id";
-- reverse: create index "comment_article_id_created_at_id" to table: "comments"
DROP INDEX "comment_article_id_created_at_id";
-- reverse: create "comments" table
DROP TABLE "comments";
-- reverse: create "article_tags" table
DROP TABLE "article_tags";
-- reverse: create index "tags_name_key" to table: "tags"
DROP INDEX "tags_name_key";
-- reverse: create index "tag_articles_count_name" to table: "tags"
DROP INDEX "tag_articles_count_name";
-- reverse: create "tags" table
DROP TABLE "tags";
-- reverse: create index "articles_slug_key" to table: "articles"
DROP INDEX "articles_slug_key";
-- reverse: create index "article_created_at_id" to table: "articles"
DROP INDEX "article_created_at_id";
-- reverse: create index "article_author_id_created_at_id" to table: "articles"
DROP INDEX "article_author_id_created_at_id";
-- reverse: create "articles" table
DROP TABLE "articles";
-- reverse: create index "users_username_key_key" to table: "users"
DROP INDEX "users_username_key_key";
-- reverse: create index "users_email_key" to table: "users"
DROP INDEX "users_email_key";
-- reverse: create index "user_created_at" to table: "users"
DROP INDEX "user_created_at";
-- reverse: create "users" table
DROP TABLE "users";

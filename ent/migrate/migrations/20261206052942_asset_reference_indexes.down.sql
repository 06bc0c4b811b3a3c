-- reverse: create index "user_image_asset_id" to table: "users"
DROP INDEX "user_image_asset_id";
-- reverse: create index "bookmark_article_id" to table: "bookmarks"
DROP INDEX "bookmark_article_id";
-- reverse: create index "article_cover_image_asset_id" to table: "articles"
DROP INDEX "article_cover_image_asset_id";

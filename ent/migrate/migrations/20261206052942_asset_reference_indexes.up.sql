-- create index "article_cover_image_asset_id" to table: "articles"
CREATE INDEX "article_cover_image_asset_id" ON "articles" ("cover_image_asset_id") WHERE (cover_image_asset_id IS NOT NULL);
-- create index "bookmark_article_id" to table: "bookmarks"
CREATE INDEX "bookmark_article_id" ON "bookmarks" ("article_id");
-- create index "user_image_asset_id" to table: "users"
CREATE INDEX "user_image_asset_id" ON "users" ("image_asset_id") WHERE (image_asset_id IS NOT NULL);

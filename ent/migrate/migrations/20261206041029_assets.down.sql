-- reverse: modify "assets" table
ALTER TABLE "assets" DROP CONSTRAINT "assets_users_assets";
-- reverse: modify "users" table
ALTER TABLE "users" DROP CONSTRAINT "users_assets_avatar_of";
-- reverse: modify "articles" table
ALTER TABLE "articles" DROP CONSTRAINT "articles_assets_cover_of";
-- reverse: create index "assets_token_key" to table: "assets"
DROP INDEX "assets_token_key";
-- reverse: create index "asset_owner_id_created_at" to table: "assets"
DROP INDEX "asset_owner_id_created_at";
-- reverse: create index "asset_expires_at" to table: "assets"
DROP INDEX "asset_expires_at";
-- reverse: create "assets" table
DROP TABLE "assets";
-- reverse: modify "users" table
ALTER TABLE "users" DROP COLUMN "image_asset_id";
-- reverse: modify "articles" table
ALTER TABLE "articles" DROP COLUMN "cover_image_asset_id";

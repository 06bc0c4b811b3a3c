-- reverse: modify "login_codes" table
ALTER TABLE "login_codes" DROP COLUMN "code_challenge";

-- modify "login_codes" table
ALTER TABLE "login_codes" ADD COLUMN "code_challenge" character varying NULL;

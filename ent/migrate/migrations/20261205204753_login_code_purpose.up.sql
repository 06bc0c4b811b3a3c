-- modify "login_codes" table
ALTER TABLE "login_codes" ADD COLUMN "purpose" character varying NOT NULL DEFAULT 'login';

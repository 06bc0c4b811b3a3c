-- modify "users" table
ALTER TABLE "users" ADD COLUMN "username_skeleton" character varying NULL;
-- fill it for the names taken so far (ASCII only: the skeleton of [A-Za-z0-9_-] maps
-- 0 to O, 1 and I to l, m to rn, then lower-cased; internal/service/validate.go computes
-- the same, and a test holds the two equal); of names that look alike, the oldest keeps it
UPDATE "users" AS u SET "username_skeleton" = s.skeleton
  FROM (SELECT "id", skeleton, row_number() OVER (PARTITION BY skeleton ORDER BY "id") AS n
          FROM (SELECT "id", lower(replace(translate("username", '01I', 'Oll'), 'm', 'rn')) AS skeleton
                  FROM "users") AS k) AS s
 WHERE u."id" = s."id" AND s.n = 1;
-- create index "users_username_skeleton_key" to table: "users"
CREATE UNIQUE INDEX "users_username_skeleton_key" ON "users" ("username_skeleton");

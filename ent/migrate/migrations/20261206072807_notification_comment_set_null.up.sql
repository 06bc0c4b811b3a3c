-- modify "notifications" table
ALTER TABLE "notifications" DROP CONSTRAINT "notifications_comments_comment", ADD CONSTRAINT "notifications_comments_comment" FOREIGN KEY ("comment_id") REFERENCES "comments" ("id") ON UPDATE NO ACTION ON DELETE SET NULL;

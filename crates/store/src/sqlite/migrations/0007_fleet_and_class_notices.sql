-- Doorplate schema, version 7: a notice may be addressed to classes (the family app
-- shows guardians the notices of their children's classes and the school-wide ones),
-- and a deleted doorplate's suppressions go with it.
-- Never edit once landed.

-- A JSON array of group ids, like room_ids; empty means no class in particular.
ALTER TABLE notices ADD COLUMN group_ids TEXT NOT NULL DEFAULT '[]';

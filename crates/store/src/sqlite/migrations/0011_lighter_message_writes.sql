-- Doorplate schema, version 11: less work for every message written (issue 15,
-- docs/BENCHMARK.md). Never edit once landed.
--
-- 1. The same value checks as versions 4 and 8, written as comparisons instead of
--    `NOT IN (…)` lists. SQLite codes a list of more than two constants as a temporary
--    index, and a trigger's program builds it again for every row: a B-tree with its own
--    page cache, made and freed per message. What is accepted and refused is unchanged.
-- 2. No index on (recipient_id, status) over every message: each message added an entry
--    at a random place in it (one more page written per message). Every query by
--    recipient asks for unread messages, which the partial index of version 4
--    (messages_unread_by_conversation) holds; users are never deleted, so no foreign
--    key check needs it either.

DROP INDEX messages_unread;

DROP TRIGGER messages_check_insert;
DROP TRIGGER messages_check_update;
CREATE TRIGGER messages_check_insert BEFORE INSERT ON messages
WHEN NOT (NEW.kind = 'text' OR NEW.kind = 'image' OR NEW.kind = 'voice' OR NEW.kind = 'video' OR NEW.kind = 'call')
  OR NOT (NEW.status = 'sent' OR NEW.status = 'notified' OR NEW.status = 'read')
BEGIN
    SELECT RAISE(ABORT, 'check failed: messages.kind or messages.status');
END;
CREATE TRIGGER messages_check_update BEFORE UPDATE OF kind, status ON messages
WHEN NOT (NEW.kind = 'text' OR NEW.kind = 'image' OR NEW.kind = 'voice' OR NEW.kind = 'video' OR NEW.kind = 'call')
  OR NOT (NEW.status = 'sent' OR NEW.status = 'notified' OR NEW.status = 'read')
BEGIN
    SELECT RAISE(ABORT, 'check failed: messages.kind or messages.status');
END;

DROP TRIGGER presences_check_insert;
DROP TRIGGER presences_check_update;
CREATE TRIGGER presences_check_insert BEFORE INSERT ON presences
WHEN NOT (NEW.source = 'active' OR NEW.source = 'timetable' OR NEW.source = 'teacher_now'
          OR NEW.source = 'teacher_advance')
BEGIN
    SELECT RAISE(ABORT, 'check failed: presences.source');
END;
CREATE TRIGGER presences_check_update BEFORE UPDATE OF source ON presences
WHEN NOT (NEW.source = 'active' OR NEW.source = 'timetable' OR NEW.source = 'teacher_now'
          OR NEW.source = 'teacher_advance')
BEGIN
    SELECT RAISE(ABORT, 'check failed: presences.source');
END;

DROP TRIGGER timetable_slots_check_insert;
DROP TRIGGER timetable_slots_check_update;
CREATE TRIGGER timetable_slots_check_insert BEFORE INSERT ON timetable_slots
WHEN NOT (NEW.kind = 'lesson' OR NEW.kind = 'exam' OR NEW.kind = 'meeting' OR NEW.kind = 'dorm'
          OR NEW.kind = 'activity')
BEGIN
    SELECT RAISE(ABORT, 'check failed: timetable_slots.kind');
END;
CREATE TRIGGER timetable_slots_check_update BEFORE UPDATE OF kind ON timetable_slots
WHEN NOT (NEW.kind = 'lesson' OR NEW.kind = 'exam' OR NEW.kind = 'meeting' OR NEW.kind = 'dorm'
          OR NEW.kind = 'activity')
BEGIN
    SELECT RAISE(ABORT, 'check failed: timetable_slots.kind');
END;

DROP TRIGGER arrangements_check_insert;
DROP TRIGGER arrangements_check_update;
CREATE TRIGGER arrangements_check_insert BEFORE INSERT ON arrangements
WHEN NOT (NEW.kind = 'lesson' OR NEW.kind = 'exam' OR NEW.kind = 'meeting' OR NEW.kind = 'dorm'
          OR NEW.kind = 'activity')
BEGIN
    SELECT RAISE(ABORT, 'check failed: arrangements.kind');
END;
CREATE TRIGGER arrangements_check_update BEFORE UPDATE OF kind ON arrangements
WHEN NOT (NEW.kind = 'lesson' OR NEW.kind = 'exam' OR NEW.kind = 'meeting' OR NEW.kind = 'dorm'
          OR NEW.kind = 'activity')
BEGIN
    SELECT RAISE(ABORT, 'check failed: arrangements.kind');
END;

DROP TRIGGER notices_check_insert;
DROP TRIGGER notices_check_update;
CREATE TRIGGER notices_check_insert BEFORE INSERT ON notices
WHEN NOT (NEW.kind = 'notice' OR NEW.kind = 'announcement' OR NEW.kind = 'honour' OR NEW.kind = 'showcase')
BEGIN
    SELECT RAISE(ABORT, 'check failed: notices.kind');
END;
CREATE TRIGGER notices_check_update BEFORE UPDATE OF kind ON notices
WHEN NOT (NEW.kind = 'notice' OR NEW.kind = 'announcement' OR NEW.kind = 'honour' OR NEW.kind = 'showcase')
BEGIN
    SELECT RAISE(ABORT, 'check failed: notices.kind');
END;

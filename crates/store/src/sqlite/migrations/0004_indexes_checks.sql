-- Doorplate schema, version 4: indexes for the queries that scanned, and the value
-- checks the first tables lacked. Never edit once landed.

-- Retention deletes messages by age, and orphaned uploads by age.
CREATE INDEX messages_created ON messages(created_at);
CREATE INDEX notices_image ON notices(image_media_id) WHERE image_media_id IS NOT NULL;

-- Unread messages per recipient and conversation: the conversation list counts them
-- per conversation, the doorplate sums them per student. Partial, so read messages
-- (nearly all of them) cost nothing here.
CREATE INDEX messages_unread_by_conversation ON messages(recipient_id, conversation_id)
    WHERE status != 'read';

-- The audit log is filtered by one of these and read newest first.
CREATE INDEX audit_action ON audit(action, id);
CREATE INDEX audit_actor ON audit(actor_id, id) WHERE actor_id IS NOT NULL;
CREATE INDEX audit_subject ON audit(subject_id, id) WHERE subject_id IS NOT NULL;

-- Foreign keys that are looked up or cleared by their parent.
CREATE INDEX timetable_group ON timetable_slots(group_id) WHERE group_id IS NOT NULL;
CREATE INDEX doorplates_room ON doorplates(room_id);

-- Value checks. SQLite cannot add a CHECK to an existing table without rebuilding it
-- (copy every row into a new table, drop the old one, rename, recreate the indexes),
-- which on a school's messages table is a long migration with the foreign keys turned
-- off. A BEFORE trigger refuses the same writes with no copy, so these are triggers;
-- the rows already there were all written through the typed store.
CREATE TRIGGER messages_check_insert BEFORE INSERT ON messages
WHEN NEW.kind NOT IN ('text', 'image', 'voice', 'video')
  OR NEW.status NOT IN ('sent', 'notified', 'read')
BEGIN
    SELECT RAISE(ABORT, 'check failed: messages.kind or messages.status');
END;
CREATE TRIGGER messages_check_update BEFORE UPDATE OF kind, status ON messages
WHEN NEW.kind NOT IN ('text', 'image', 'voice', 'video')
  OR NEW.status NOT IN ('sent', 'notified', 'read')
BEGIN
    SELECT RAISE(ABORT, 'check failed: messages.kind or messages.status');
END;

CREATE TRIGGER presences_check_insert BEFORE INSERT ON presences
WHEN NEW.source NOT IN ('active', 'timetable', 'teacher_now', 'teacher_advance')
BEGIN
    SELECT RAISE(ABORT, 'check failed: presences.source');
END;
CREATE TRIGGER presences_check_update BEFORE UPDATE OF source ON presences
WHEN NEW.source NOT IN ('active', 'timetable', 'teacher_now', 'teacher_advance')
BEGIN
    SELECT RAISE(ABORT, 'check failed: presences.source');
END;

CREATE TRIGGER timetable_slots_check_insert BEFORE INSERT ON timetable_slots
WHEN NEW.kind NOT IN ('lesson', 'exam', 'meeting', 'dorm', 'activity')
BEGIN
    SELECT RAISE(ABORT, 'check failed: timetable_slots.kind');
END;
CREATE TRIGGER timetable_slots_check_update BEFORE UPDATE OF kind ON timetable_slots
WHEN NEW.kind NOT IN ('lesson', 'exam', 'meeting', 'dorm', 'activity')
BEGIN
    SELECT RAISE(ABORT, 'check failed: timetable_slots.kind');
END;

CREATE TRIGGER arrangements_check_insert BEFORE INSERT ON arrangements
WHEN NEW.kind NOT IN ('lesson', 'exam', 'meeting', 'dorm', 'activity')
BEGIN
    SELECT RAISE(ABORT, 'check failed: arrangements.kind');
END;
CREATE TRIGGER arrangements_check_update BEFORE UPDATE OF kind ON arrangements
WHEN NEW.kind NOT IN ('lesson', 'exam', 'meeting', 'dorm', 'activity')
BEGIN
    SELECT RAISE(ABORT, 'check failed: arrangements.kind');
END;

CREATE TRIGGER notices_check_insert BEFORE INSERT ON notices
WHEN NEW.kind NOT IN ('notice', 'announcement', 'honour', 'showcase')
BEGIN
    SELECT RAISE(ABORT, 'check failed: notices.kind');
END;
CREATE TRIGGER notices_check_update BEFORE UPDATE OF kind ON notices
WHEN NEW.kind NOT IN ('notice', 'announcement', 'honour', 'showcase')
BEGIN
    SELECT RAISE(ABORT, 'check failed: notices.kind');
END;

-- Doorplate schema, version 8: a message may be the trace of a call that never
-- connected (kind 'call', written by the server: "Missed video call, 10:42").
-- Never edit once landed.

-- The kind check lives in triggers (0004 says why); they are replaced, not edited.
DROP TRIGGER messages_check_insert;
DROP TRIGGER messages_check_update;
CREATE TRIGGER messages_check_insert BEFORE INSERT ON messages
WHEN NEW.kind NOT IN ('text', 'image', 'voice', 'video', 'call')
  OR NEW.status NOT IN ('sent', 'notified', 'read')
BEGIN
    SELECT RAISE(ABORT, 'check failed: messages.kind or messages.status');
END;
CREATE TRIGGER messages_check_update BEFORE UPDATE OF kind, status ON messages
WHEN NEW.kind NOT IN ('text', 'image', 'voice', 'video', 'call')
  OR NEW.status NOT IN ('sent', 'notified', 'read')
BEGIN
    SELECT RAISE(ABORT, 'check failed: messages.kind or messages.status');
END;

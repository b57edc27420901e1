// The outbox: every send goes through here, so that none is lost and none is sent twice.
//
// A message gets its `client_id` once, when the user sends it, and keeps it through every
// retry; the server answers a repeated `client_id` with the message it already stored
// (200 instead of 201). A send that fails because the server cannot be reached waits and
// is tried again by itself (with a growing pause, when the browser comes back online and
// when the live connection returns); one the server refused stays "not sent" with a
// retry button. Text sends (and media already uploaded) are kept in localStorage, so a
// message written offline is sent even if the app was closed in between.

import { api, ApiError, uuid } from '/common/api.js';
import { state, emit, readOutbox, writeOutbox, upsertMessages, saveThread, token } from './state.js';
import { upload, rememberLocal } from './media.js';

const MIN_RETRY_MS = 1000;
const MAX_RETRY_MS = 15_000;
let retryDelay = MIN_RETRY_MS;
let retryTimer = null;

/** Sends are "waiting" (will retry alone) on these failures; others are "failed". */
const transient = (err) => !(err instanceof ApiError) || err.status === 0 || err.status === 429 || err.status >= 500;

function persist() {
  writeOutbox(state.outbox
    .filter((e) => e.kind === 'text' || e.media_id)
    .map(({ client_id, conversation_id, kind, text, urgent, created_at, media_id, mime }) =>
      ({ client_id, conversation_id, kind, text, urgent, created_at, media_id, mime })));
}

function changed(entry) {
  emit('outbox', entry.conversation_id);
}

/** Loads the sends left over from last time and tries them again. */
export function restoreOutbox() {
  state.outbox = readOutbox().map((e) => ({ ...e, state: 'waiting', progress: 0 }));
  for (const e of state.outbox) changed(e);
  retryAll();
}

/**
 * Sends a message. `blob` and `mime` for a picture, voice or video.
 * Returns the outbox entry (shown at once as a pending bubble).
 */
export function send({ conversation_id, kind, text = null, blob = null, mime = null, urgent = false }) {
  const entry = {
    client_id: uuid(),
    conversation_id,
    kind,
    text: text || null,
    urgent: Boolean(urgent),
    created_at: new Date().toISOString(),
    media_id: null,
    mime: mime ? mime.split(';')[0].trim() : null,
    blob,
    localUrl: blob ? URL.createObjectURL(blob) : null,
    state: blob ? 'uploading' : 'sending',
    progress: 0,
    error: null,
  };
  state.outbox.push(entry);
  persist();
  changed(entry);
  pump(entry);
  return entry;
}

/** Tries one entry now (the retry button). */
export function retry(clientId) {
  const entry = state.outbox.find((e) => e.client_id === clientId);
  if (entry) pump(entry, { manual: true });
}

/** Cancels an upload in progress, or discards a send that failed. */
export function discard(clientId) {
  const entry = state.outbox.find((e) => e.client_id === clientId);
  if (!entry) return;
  entry.cancelled = true;
  entry.abort?.();
  remove(entry);
}

function remove(entry) {
  state.outbox = state.outbox.filter((e) => e !== entry);
  if (entry.localUrl && !entry.media_id) URL.revokeObjectURL(entry.localUrl);
  persist();
  changed(entry);
}

/** Tries every send that is waiting for the connection. */
export function retryAll() {
  clearTimeout(retryTimer);
  retryTimer = null;
  for (const entry of state.outbox) if (entry.state === 'waiting') pump(entry);
}

function scheduleRetry() {
  if (retryTimer) return;
  retryTimer = setTimeout(() => {
    retryTimer = null;
    retryAll();
  }, retryDelay);
  retryDelay = Math.min(MAX_RETRY_MS, retryDelay * 2);
}

window.addEventListener('online', () => { retryDelay = MIN_RETRY_MS; retryAll(); });

async function pump(entry, { manual = false } = {}) {
  if (entry.busy || entry.cancelled) return;
  if (entry.kind !== 'text' && !entry.media_id && !entry.blob) {
    // A media send restored after a reload lost its file: it cannot be sent any more.
    entry.state = 'failed';
    changed(entry);
    return;
  }
  entry.busy = true;
  entry.error = null;
  try {
    if (entry.kind !== 'text' && !entry.media_id) {
      entry.state = 'uploading';
      entry.progress = 0;
      changed(entry);
      const job = upload(entry.blob, entry.mime, (f) => {
        entry.progress = f;
        emit('progress', entry);
      });
      entry.abort = job.abort;
      const media = await job.promise;
      entry.abort = null;
      entry.media_id = media.media_id;
      rememberLocal(media.media_id, entry.blob);
      persist();
    }
    entry.state = 'sending';
    changed(entry);
    const body = { client_id: entry.client_id, kind: entry.kind };
    if (entry.text) body.text = entry.text;
    if (entry.media_id) body.media_id = entry.media_id;
    if (entry.urgent) body.urgent = true;
    const { message, recipient_quiet } = await api('POST', `/api/v1/conversations/${encodeURIComponent(entry.conversation_id)}/messages`, { token: token(), body });
    retryDelay = MIN_RETRY_MS;
    entry.busy = false;
    if (entry.cancelled) return;
    upsertMessages(entry.conversation_id, [message]);
    saveThread(entry.conversation_id);
    remove(entry);
    emit('sent', message);
    // Whether the recipient's quiet hours hold it (the thread says until when).
    emit('quiet', { conversation_id: entry.conversation_id, quiet: recipient_quiet || null });
  } catch (err) {
    entry.busy = false;
    entry.abort = null;
    if (entry.cancelled || err?.status === -1) return;
    if (err?.status === 401) {
      emit('unauthorized');
      return;
    }
    entry.error = err;
    entry.state = transient(err) ? 'waiting' : 'failed';
    if (entry.state === 'waiting') {
      state.online = err?.status === 0 ? false : state.online;
      emit('connection');
      if (manual) retryDelay = MIN_RETRY_MS;
      scheduleRetry();
    } else {
      emit('send-failed', err);
    }
    changed(entry);
  }
}

/** The outbox entries of one conversation, as message-like objects for the thread. */
export function pendingOf(convId) {
  return state.outbox
    .filter((e) => e.conversation_id === convId)
    .map((e) => ({
      id: null,
      client_id: e.client_id,
      conversation_id: e.conversation_id,
      sender_id: state.session?.user?.id,
      kind: e.kind,
      text: e.text,
      media: e.media_id ? { id: e.media_id, mime: e.mime } : null,
      urgent: e.urgent,
      created_at: e.created_at,
      status: 'pending',
      notified_rooms: [],
      pending: e,
    }));
}

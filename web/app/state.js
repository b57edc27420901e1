// What the family app knows, in memory and in the phone's own storage.
//
// This is the guardian's (or teacher's) own phone, so the app keeps its login token and
// the last loaded children, conversations and messages in localStorage: opened offline,
// it still shows what it had. Everything is kept per user and removed at logout.

import { schoolKey } from '/common/api.js';

const SESSION_KEY = schoolKey('doorplate.app.session');
const PREFIX = schoolKey('doorplate.app.v1') + '.';
/** How many of the newest messages of each conversation are kept for offline use. */
const KEEP_PER_CONVERSATION = 60;

export const state = {
  /** `{token, user}` or null. */
  session: null,
  settings: { language: 'auto', timezone: undefined },
  /** Guardians only: `[{id, display_name, where: {state, room, since}, unread_by_child}]`. */
  children: [],
  /** Guardians only: child id → the last `child.arrived` notice (this session). */
  arrivals: {},
  /** `[{id, peer: {id, display_name, role, quiet?}, unread, last}]`, as listed. */
  convs: [],
  /** conversation id → `{items: message[], hasMore: boolean, loaded: boolean}` */
  threads: new Map(),
  /** Sends not yet acknowledged (see send.js). */
  outbox: [],
  /** The conversation on screen, or null. */
  openId: null,
  /** False while the server cannot be reached. */
  online: true,
};

// ---- change notifications ---------------------------------------------------------------

const listeners = new Map();

/** Calls `cb(arg)` whenever `emit(name, arg)` happens. */
export function on(name, cb) {
  if (!listeners.has(name)) listeners.set(name, new Set());
  listeners.get(name).add(cb);
  return () => listeners.get(name).delete(cb);
}

export function emit(name, arg) {
  for (const cb of listeners.get(name) || []) {
    try { cb(arg); } catch (err) { console.error(`listener of ${name} failed`, err); }
  }
}

// ---- storage ----------------------------------------------------------------------------

function read(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw ? JSON.parse(raw) : fallback;
  } catch {
    return fallback;
  }
}

function write(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch (err) {
    // A full storage only costs the offline copy; the app works on.
    console.warn('could not save', key, err);
  }
}

const userKey = (name) => `${PREFIX}${state.session?.user?.id}.${name}`;

export function loadSession() {
  state.session = read(SESSION_KEY, null);
  return state.session;
}

export function saveSession(session) {
  state.session = session;
  write(SESSION_KEY, session);
}

/** Forgets the login and everything kept for this user on the phone. */
export function clearSession() {
  const prefix = state.session?.user ? `${PREFIX}${state.session.user.id}.` : null;
  localStorage.removeItem(SESSION_KEY);
  if (prefix) {
    for (const key of Object.keys(localStorage)) if (key.startsWith(prefix)) localStorage.removeItem(key);
  }
  state.session = null;
  state.children = [];
  state.convs = [];
  state.threads.clear();
  state.outbox = [];
  state.openId = null;
}

export const me = () => state.session?.user;
export const token = () => state.session?.token;
export const isGuardian = () => me()?.role === 'guardian';

/** Reads the offline copy of this user's data into memory. */
export function loadCache() {
  state.settings = { ...state.settings, ...read(userKey('settings'), {}) };
  state.children = read(userKey('children'), []);
  state.convs = read(userKey('convs'), []);
  for (const conv of state.convs) {
    const items = read(userKey(`msgs.${conv.id}`), null);
    if (items) state.threads.set(conv.id, { items, hasMore: true, loaded: false });
  }
}

export function saveSettings() { write(userKey('settings'), state.settings); }
export function saveChildren() { write(userKey('children'), state.children); }
export function saveConvs() { write(userKey('convs'), state.convs); }

export function saveThread(convId) {
  const thread = state.threads.get(convId);
  if (thread) write(userKey(`msgs.${convId}`), thread.items.slice(-KEEP_PER_CONVERSATION));
}

export function readOutbox() { return read(userKey('outbox'), []); }
export function writeOutbox(entries) { write(userKey('outbox'), entries); }

export function readPref(name, fallback = null) { return read(`${PREFIX}pref.${name}`, fallback); }
export function writePref(name, value) { write(`${PREFIX}pref.${name}`, value); }

// ---- messages ---------------------------------------------------------------------------

const RANK = { sent: 0, notified: 1, read: 2 };

/** Orders messages oldest first: by time, then by id (ids grow). */
export function compareMessages(a, b) {
  const ta = Date.parse(a.created_at);
  const tb = Date.parse(b.created_at);
  if (ta !== tb) return ta - tb;
  return String(a.id).localeCompare(String(b.id), 'en', { numeric: true });
}

/** Merges what the server says about a message into what we had (status never goes back). */
function mergeMessage(old, next) {
  if (!old) return next;
  const merged = { ...old, ...next };
  if ((RANK[old.status] ?? 0) > (RANK[next.status] ?? 0)) merged.status = old.status;
  const rooms = new Set([...(old.notified_rooms || []), ...(next.notified_rooms || [])]);
  merged.notified_rooms = [...rooms].filter(Boolean);
  return merged;
}

export function thread(convId) {
  if (!state.threads.has(convId)) state.threads.set(convId, { items: [], hasMore: true, loaded: false });
  return state.threads.get(convId);
}

/** Adds or updates messages of one conversation (matched by id or client_id). */
export function upsertMessages(convId, messages) {
  const th = thread(convId);
  let changed = false;
  for (const m of messages) {
    const i = th.items.findIndex((x) => x.id === m.id || (m.client_id && x.client_id === m.client_id));
    if (i >= 0) th.items[i] = mergeMessage(th.items[i], m);
    else th.items.push(m);
    changed = true;
  }
  if (changed) th.items.sort(compareMessages);
  return changed;
}

/** Applies a `message.status` event; returns the conversation id it changed, if any. */
export function applyStatus({ message_id: id, status, room }) {
  const patch = (m) => {
    const next = mergeMessage(m, { status, notified_rooms: room ? [room] : [] });
    return next;
  };
  for (const [convId, th] of state.threads) {
    const i = th.items.findIndex((m) => m.id === id);
    if (i >= 0) {
      th.items[i] = patch(th.items[i]);
      const conv = state.convs.find((c) => c.id === convId);
      if (conv?.last?.id === id) conv.last = patch(conv.last);
      return convId;
    }
  }
  const conv = state.convs.find((c) => c.last?.id === id);
  if (conv) {
    conv.last = patch(conv.last);
    return conv.id;
  }
  return null;
}

/** The conversations in the order the list shows: a guardian's children first, then by recency. */
export function sortedConvs() {
  const time = (c) => (c.last ? Date.parse(c.last.created_at) : 0);
  const childFirst = isGuardian();
  return [...state.convs].sort((a, b) => {
    if (childFirst) {
      const sa = a.peer.role === 'student' ? 0 : 1;
      const sb = b.peer.role === 'student' ? 0 : 1;
      if (sa !== sb) return sa - sb;
    }
    return time(b) - time(a);
  });
}

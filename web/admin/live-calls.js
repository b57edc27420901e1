// The calls going on that the signed-in person supervises — a teacher those of their
// classes' students, an admin every one (the server decides: `GET /api/v1/calls`) — kept
// live from `call.started` and `call.ended` on the console's event stream. The shell
// feeds it the frames and shows the count in the navigation; the Calls view draws it.

import { call } from './lib.js';

/** id → call (as the API shows it), answered calls only. */
const calls = new Map();
const subscribers = new Set();
/** Frames that came while a load was in flight: applied over its answer. */
let pending = null;
let state = { loaded: false, error: null };
let seq = 0;

function notify() {
  for (const cb of subscribers) {
    try { cb(); } catch (err) { console.error(err); }
  }
}

function apply({ type, data }) {
  const c = data?.call;
  if (!c?.id) return;
  if (type === 'call.started' && c.state === 'active') calls.set(c.id, c);
  if (type === 'call.ended') calls.delete(c.id);
}

export const liveCalls = {
  /** The calls, longest-running first. */
  list() {
    const since = (c) => Date.parse(c.answered_at || c.started_at) || 0;
    return [...calls.values()].sort((a, b) => since(a) - since(b));
  },
  get count() { return calls.size; },
  get loaded() { return state.loaded; },
  get error() { return state.error; },

  /** (Re)loads the list from the server. */
  async load() {
    const mine = ++seq;
    pending = pending || [];
    try {
      const list = await call('GET', '/api/v1/calls');
      if (mine !== seq) return;
      calls.clear();
      for (const c of list) if (c.state === 'active') calls.set(c.id, c);
      for (const f of pending) apply(f);
      state = { loaded: true, error: null };
    } catch (err) {
      if (mine !== seq) return;
      state = { ...state, error: err };
    } finally {
      if (mine === seq) pending = null;
    }
    notify();
  },

  /** A frame from the console's event stream. */
  onFrame(frame) {
    if (frame.type === 'resync') { this.load(); return; }
    if (frame.type !== 'call.started' && frame.type !== 'call.ended') return;
    if (pending) pending.push(frame);
    apply(frame);
    notify();
  },

  /** Calls `cb` after every change; returns the unsubscribe function. */
  subscribe(cb) {
    subscribers.add(cb);
    return () => subscribers.delete(cb);
  },

  /** Signed out: forget everything. */
  reset() {
    seq++;
    pending = null;
    calls.clear();
    state = { loaded: false, error: null };
    notify();
  },
};

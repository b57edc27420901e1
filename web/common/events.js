// Live events over a WebSocket, for a browser that holds a bearer token.
//
// Each connection asks a fresh single-use ticket (`POST /api/v1/events/ticket`), then
// opens `/api/v1/events?ticket=…&after=<last seq seen>` so that the server replays what
// was missed while we were away. A frame is `{"seq": n, "type": "...", "data": {...}}`.
// A `resync` frame means events were lost (for example the server restarted): the caller
// reloads its state from REST. Reconnects back off 1 s, 2 s, 4 s … up to 10 s, each with
// jitter. A server restart (close code 1012) is routine: the stream reconnects after a
// random pause and says nothing to the face unless it is still away after a while.

import { api, ApiError, at } from './api.js';

const MAX_BACKOFF_MS = 10_000;
/** Close codes the server uses: the session ended (final), or we fell behind (resume). */
const CLOSE_SESSION_ENDED = 4001;
const CLOSE_LAGGING = 4008;
/** The server is restarting: reconnect, without telling anyone, unless it takes long. */
const CLOSE_RESTART = 1012;
/** After a restart close, "reconnecting" is shown only if we are still away after this. */
const RESTART_GRACE_MS = 10_000;
/** The first reconnect after a restart close waits a random 0.5–3 s: a new server takes a
 * moment to start, and thousands of doorplates must not all ask at once. */
const RESTART_PAUSE_MS = [500, 3_000];

/**
 * Opens a live event stream.
 *
 * @param {object} opts
 * @param {string} opts.token                 bearer used to get tickets
 * @param {(frame: {seq:number,type:string,data:object}) => void} opts.onEvent
 * @param {(status: 'connected'|'reconnecting', info: {first: boolean}) => void} [opts.onStatus]
 * @param {(err: ApiError) => void} [opts.onAuthError]  the token was refused (401/403): the stream stops
 * @param {number|null} [opts.after]          start after this seq (null: only new events)
 * @returns {{close(): void, readonly lastSeq: number|null, readonly connected: boolean}}
 */
export function openEvents({ token, onEvent, onStatus = () => {}, onAuthError = () => {}, after = null }) {
  let lastSeq = after;
  let socket = null;
  let closed = false;
  let attempt = 0;
  let timer = null;
  let connected = false;
  let everConnected = false;

  let status = null;
  /** Set after a restart close: we reconnect without telling the face, until the grace
   * timer runs out. */
  let quiet = false;
  let graceTimer = null;
  function setStatus(next) {
    if (next === 'reconnecting' && quiet) return;
    if (next === 'connected' && quiet) {
      // Back after a restart: report 'connected' again (first: false), so the face
      // reloads what it shows, as after any reconnect.
      quiet = false;
      clearTimeout(graceTimer);
      status = null;
    }
    if (next === status) return;
    status = next;
    connected = next === 'connected';
    onStatus(next, { first: !everConnected });
    if (connected) everConnected = true;
  }

  function schedule() {
    if (closed) return;
    // Jitter: a half to the whole of the step, so clients that lost the server together
    // do not come back together.
    const step = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** attempt);
    const delay = step / 2 + Math.random() * (step / 2);
    attempt += 1;
    clearTimeout(timer);
    timer = setTimeout(connect, delay);
  }

  async function connect() {
    if (closed) return;
    let ticket;
    try {
      ({ ticket } = await api('POST', '/api/v1/events/ticket', { token }));
    } catch (err) {
      if (closed) return;
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        closed = true;
        onAuthError(err);
        return;
      }
      setStatus('reconnecting');
      schedule();
      return;
    }
    if (closed) return;

    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const query = new URLSearchParams({ ticket });
    if (lastSeq !== null && lastSeq !== undefined) query.set('after', String(lastSeq));
    const ws = new WebSocket(`${scheme}//${location.host}${at('/api/v1/events')}?${query}`);
    socket = ws;

    ws.onopen = () => {
      if (closed || socket !== ws) return;
      attempt = 0;
      setStatus('connected');
    };
    ws.onmessage = (ev) => {
      if (closed || socket !== ws) return;
      let parsed;
      try { parsed = JSON.parse(ev.data); } catch { return; }
      for (const frame of Array.isArray(parsed) ? parsed : [parsed]) {
        if (!frame || typeof frame.type !== 'string') continue;
        if (typeof frame.seq === 'number') lastSeq = frame.seq;
        try {
          onEvent({ seq: frame.seq, type: frame.type, data: frame.data || {} });
        } catch (err) {
          console.error('event handler failed', frame.type, err);
        }
      }
    };
    ws.onclose = (ev) => {
      if (socket !== ws) return;
      socket = null;
      if (closed) return;
      if (ev.code === CLOSE_SESSION_ENDED) {
        // The server ended this principal's session: no reconnect can help.
        closed = true;
        onAuthError(new ApiError(401, 'session_ended', ev.reason || 'session ended'));
        return;
      }
      if (ev.code === CLOSE_RESTART) {
        // Routine: no banner unless the server stays away past the grace period.
        quiet = true;
        connected = false;
        clearTimeout(graceTimer);
        graceTimer = setTimeout(() => {
          quiet = false;
          if (!closed && socket === null) setStatus('reconnecting');
        }, RESTART_GRACE_MS);
        attempt = 0;
        const [lo, hi] = RESTART_PAUSE_MS;
        clearTimeout(timer);
        timer = setTimeout(connect, lo + Math.random() * (hi - lo));
        return;
      }
      setStatus('reconnecting');
      if (ev.code === CLOSE_LAGGING) connect(); // resume at once from `after`
      else schedule();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  // A kiosk that gets its network back should not wait out a 10 s backoff.
  const onOnline = () => {
    if (closed || socket) return;
    attempt = 0;
    clearTimeout(timer);
    connect();
  };
  window.addEventListener('online', onOnline);

  connect();

  return {
    close() {
      closed = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      window.removeEventListener('online', onOnline);
      if (socket) {
        const ws = socket;
        socket = null;
        try { ws.close(1000, 'closed'); } catch { /* already closed */ }
      }
    },
    get lastSeq() { return lastSeq; },
    get connected() { return connected; },
  };
}

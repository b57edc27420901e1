// The faces' event stream (web/common/events.js) on a server restart: a 1012 close is
// routine — it reconnects after a random pause, resumes with `after`, and tells the face
// nothing but a fresh 'connected' (so it reloads) — unless the server stays away past
// the grace period. Any other drop is reported at once. No browser: the module runs in
// Node with a fake WebSocket, fetch and clock.

import { test, mock } from 'node:test';
import assert from 'node:assert/strict';

globalThis.location = { pathname: '/kiosk', protocol: 'http:', host: 'school.test' };
globalThis.window = { addEventListener() {}, removeEventListener() {} };

const sockets = [];
class FakeSocket {
  constructor(url) { this.url = url; sockets.push(this); }
  close() {}
}
globalThis.WebSocket = FakeSocket;
let serverUp = true;
globalThis.fetch = async () => {
  if (!serverUp) throw new TypeError('connection refused');
  return new Response(JSON.stringify({ ticket: 'dpt_x' }), { status: 200, headers: { 'content-type': 'application/json' } });
};

const { openEvents } = await import('../web/common/events.js');

/** Lets the pending promise callbacks (the ticket fetch) run. */
async function settle() {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

function start() {
  const seen = [];
  const stream = openEvents({ token: 't', onEvent() {}, onStatus: (s, { first }) => seen.push(`${s}${first ? ' first' : ''}`) });
  return { seen, stream };
}

test('a restart close reconnects quietly, resumes with after, and reports connected again', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  t.mock.method(Math, 'random', () => 0.5);
  sockets.length = 0;
  serverUp = true;
  const { seen, stream } = start();
  await settle();
  const first = sockets.at(-1);
  first.onopen();
  first.onmessage({ data: JSON.stringify({ seq: 41, type: 'notify.unread', data: {} }) });
  assert.deepEqual(seen, ['connected first']);

  // The server restarts: it is down for a moment.
  serverUp = false;
  first.onclose({ code: 1012, reason: 'server restarting' });
  assert.equal(stream.connected, false);
  // The pause is 0.5 s + random × 2.5 s = 1.75 s: nothing before it.
  mock.timers.tick(1700);
  await settle();
  assert.equal(sockets.length, 1);
  mock.timers.tick(100);
  await settle();
  // The ticket request failed (still down): no banner, a backoff with jitter.
  assert.deepEqual(seen, ['connected first']);
  serverUp = true;
  mock.timers.tick(1000);
  await settle();
  const second = sockets.at(-1);
  assert.notEqual(second, first);
  assert.match(second.url, /after=41/);
  second.onopen();
  // 'connected' again, not first: the face reloads; 'reconnecting' was never shown.
  assert.deepEqual(seen, ['connected first', 'connected']);
  // The grace timer is gone: nothing shows later.
  mock.timers.tick(20_000);
  await settle();
  assert.deepEqual(seen, ['connected first', 'connected']);
  stream.close();
});

test('a server that stays away after a restart close is shown after the grace period', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  sockets.length = 0;
  serverUp = true;
  const { seen, stream } = start();
  await settle();
  sockets.at(-1).onopen();
  serverUp = false;
  sockets.at(-1).onclose({ code: 1012 });
  for (let s = 0; s < 9; s++) {
    mock.timers.tick(1000);
    await settle();
  }
  assert.deepEqual(seen, ['connected first']);
  mock.timers.tick(1500);
  await settle();
  assert.deepEqual(seen, ['connected first', 'reconnecting']);
  stream.close();
});

test('any other drop is reported at once', async (t) => {
  mock.timers.enable({ apis: ['setTimeout'] });
  t.after(() => mock.timers.reset());
  sockets.length = 0;
  serverUp = true;
  const { seen, stream } = start();
  await settle();
  sockets.at(-1).onopen();
  sockets.at(-1).onclose({ code: 1006 });
  assert.deepEqual(seen, ['connected first', 'reconnecting']);
  stream.close();
});

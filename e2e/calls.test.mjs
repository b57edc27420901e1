// Browser tests for live calls (issue 13), against the real server binary and a
// throwaway coturn on loopback: the server hands out TURN credentials and tells the
// browsers to use the relay only, two Chromium profiles with a fake camera and
// microphone place a call each way, and getStats() shows audio and video bytes flowing
// both ways; a checkout ends the call on both sides; a ringing doorplate shows only the
// child's name; a missed call leaves its trace. Screenshots in e2e/artifacts/calls-*.png.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startServer, serverAvailable, schoolAdmin, login, BIN } from './lib/server.mjs';
import { launch, shot, until, LANDSCAPE } from './lib/browser.mjs';

const TURN = '/usr/bin/turnserver';
const skip = !serverAvailable() ? `server binary not found at ${BIN} (set DOORPLATE_BIN)`
  : !existsSync(TURN) ? 'coturn is not installed (apt-get install coturn)' : false;
const PHONE = { width: 390, height: 844 };
const tid = (id) => `[data-testid="${id}"]`;

let server;
let turn;
let tmp;
let school;
const s = {};

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => { const { port } = srv.address(); srv.close(() => resolve(port)); });
  });
}

/** A throwaway coturn on loopback with a shared secret; resolves once it listens. */
async function startTurn(port, secret) {
  const child = spawn(TURN, [
    '-n', '--listening-ip', '127.0.0.1', '--relay-ip', '127.0.0.1', '--listening-port', String(port),
    '--allow-loopback-peers', '--use-auth-secret', `--static-auth-secret=${secret}`, '--realm', 'doorplate',
    '--no-tls', '--no-dtls', '--no-cli', '--no-tcp-relay', '--min-port', '49160', '--max-port', '49400',
    '--log-file', 'stdout', '--simple-log',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout.on('data', (d) => { log += d; });
  child.stderr.on('data', (d) => { log += d; });
  await until(() => /listener opened|Total General servers|IO method/i.test(log) || child.exitCode !== null, { timeout: 15_000, message: 'coturn to start' });
  if (child.exitCode !== null) throw new Error(`coturn exited:\n${log}`);
  // The UDP listener is up shortly after its first lines.
  await new Promise((r) => setTimeout(r, 500));
  return { child, log: () => log };
}

before(async () => {
  if (skip) return;
  tmp = await mkdtemp(path.join(tmpdir(), 'doorplate-calls-'));
  const secret = randomBytes(16).toString('hex');
  const secretFile = path.join(tmp, 'turn.secret');
  await writeFile(secretFile, `${secret}\n`, { mode: 0o600 });
  const port = await freePort();
  turn = await startTurn(port, secret);
  server = await startServer({ args: ['--turn-url', `turn:127.0.0.1:${port}?transport=udp`, '--turn-secret-file', secretFile, '--turn-relay-only'] });
  school = await schoolAdmin(server);
  // Calls all day, whenever the test runs.
  const settings = await school.settings();
  const allDay = { from: '00:00', to: '23:59' };
  await school.patchSettings({ calls: { ...settings.calls, hours: Array(7).fill(allDay) } });
  s.teacher = await school.teacher('Li Hua');
  s.amy = await school.student('Amy Chen');
  s.mumUser = await school.guardian('Mei Chen');
  await school.link(s.mumUser.id, s.amy.id);
  s.group = await school.group('Class 3-2', [s.amy.id], s.teacher.id);
  s.room = await school.room('Room 204');
  s.plate = await school.doorplate(s.room.id, 'Door 204');
  const paired = await fetch(`${server.url}/api/v1/devices/pair`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ pairing_code: s.plate.pairing_code }),
  }).then((r) => r.json());
  s.device = paired.device_token;
  s.mum = await login(server.url, s.mumUser.username, s.mumUser.password);
});

after(async () => {
  if (server) await server.cleanup();
  if (turn) turn.child.kill('SIGTERM');
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** What a USB card reader does: a fast burst of keys, then Enter. */
async function swipe(p, text) {
  await p.keyboard.type(text, { delay: 5 });
  await p.keyboard.press('Enter');
}

async function openKiosk(lang = 'en') {
  const browser = await launch({ baseURL: server.url, viewport: LANDSCAPE });
  const p = await browser.newPage(LANDSCAPE);
  await p.goto(`/kiosk?lang=${lang}#device=${s.device}`);
  await p.locator(tid('room')).waitFor({ state: 'visible' });
  await p.locator(tid('conn')).and(p.locator('[data-state="connected"]')).waitFor({ state: 'attached' });
  return { browser, p };
}

async function openApp(lang = 'en') {
  const browser = await launch({ baseURL: server.url, viewport: PHONE });
  const p = await browser.newPage(PHONE);
  await p.goto(`/app/?lang=${lang}`);
  await p.locator(tid('login-username')).fill(s.mumUser.username);
  await p.locator(tid('login-password')).fill(s.mumUser.password);
  await p.locator(tid('login-submit')).click();
  await p.locator(tid('home')).waitFor();
  await until(() => p.evaluate(() => document.body.dataset.live === 'connected'), { message: 'the app to be live' });
  return { browser, p };
}

/** Bytes received and sent per kind on the page's call, from getStats(). */
async function bytes(p) {
  return p.evaluate(async () => {
    const pc = globalThis.doorplateCall;
    if (!pc) return null;
    const out = { inAudio: 0, inVideo: 0, outAudio: 0, outVideo: 0, relay: false };
    const stats = await pc.getStats();
    stats.forEach((r) => {
      if (r.type === 'inbound-rtp') out[r.kind === 'video' ? 'inVideo' : 'inAudio'] += r.bytesReceived || 0;
      if (r.type === 'outbound-rtp') out[r.kind === 'video' ? 'outVideo' : 'outAudio'] += r.bytesSent || 0;
      if (r.type === 'candidate-pair' && r.state === 'succeeded' && r.nominated) {
        const local = stats.get(r.localCandidateId);
        if (local && local.candidateType === 'relay') out.relay = true;
      }
    });
    return out;
  });
}

async function assertFlowing(p, video) {
  const first = await until(async () => {
    const b = await bytes(p);
    return b && b.inAudio > 0 && b.outAudio > 0 && (!video || (b.inVideo > 0 && b.outVideo > 0)) ? b : null;
  }, { timeout: 30_000, message: 'media to flow' });
  const later = await until(async () => {
    const b = await bytes(p);
    return b && b.inAudio > first.inAudio && b.outAudio > first.outAudio
      && (!video || (b.inVideo > first.inVideo && b.outVideo > first.outVideo)) ? b : null;
  }, { timeout: 15_000, message: 'media to keep flowing' });
  assert.ok(later.relay, `the call runs through the relay: ${JSON.stringify(later)}`);
  return later;
}

async function checkIn() {
  await fetch(`${server.url}/api/v1/doorplate/checkin`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${s.device}` },
    body: JSON.stringify({ credential: { card: s.amy.card_uid } }),
  });
}

test('a guardian calls the doorplate: it rings with the name only, the child answers with her card, media flows both ways through the relay, a checkout ends it on both sides', { skip }, async () => {
  await checkIn();
  const kiosk = await openKiosk('en');
  const app = await openApp('en');
  try {
    // The call button in Amy's thread.
    const { conversation } = await s.mum.api.post('/api/v1/conversations', { peer_id: s.amy.id });
    await app.p.goto(`/app/?lang=en#/c/${conversation.id}`);
    await app.p.reload();
    await app.p.locator(tid('thread-name')).filter({ hasText: 'Amy Chen' }).waitFor();
    await app.p.locator(tid('call-video')).click().catch(async (err) => {
      console.error('call slot:', await app.p.locator(tid('call-slot')).innerHTML());
      await shot(app.p, 'calls-debug-app');
      throw err;
    });
    // The door: a ring card with Amy's name and nothing of her mother.
    const ring = kiosk.p.locator(tid('ring-card'));
    await ring.waitFor();
    assert.match(await ring.innerText(), /Amy Chen/);
    assert.doesNotMatch(await kiosk.p.locator('body').innerText(), /Mei Chen/);
    await shot(kiosk.p, 'calls-kiosk-ringing-en');
    await kiosk.p.locator(tid('ring-answer')).click();
    await kiosk.p.locator(tid('proof-sheet')).waitFor();
    await swipe(kiosk.p, s.amy.card_uid);
    await kiosk.p.locator(tid('call-view')).and(kiosk.p.locator('[data-state="active"]')).waitFor({ timeout: 20_000 });
    await app.p.locator(tid('call-view')).and(app.p.locator('[data-state="active"]')).waitFor();
    assert.match(await kiosk.p.locator(tid('call-name')).innerText(), /Mei Chen/);
    await assertFlowing(kiosk.p, true);
    await assertFlowing(app.p, true);
    await shot(kiosk.p, 'calls-kiosk-call-en');
    await shot(app.p, 'calls-app-call-en');
    // Checkout (the REST call the kiosk's own button makes): both sides close the call.
    await fetch(`${server.url}/api/v1/doorplate/checkout`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${s.device}` },
      body: JSON.stringify({ credential: { card: s.amy.card_uid } }),
    });
    await app.p.locator(tid('call-view')).waitFor({ state: 'detached' });
    await kiosk.p.locator(tid('call-view')).waitFor({ state: 'detached' });
  } finally {
    await kiosk.browser.close();
    await app.browser.close();
  }
});

test('the child calls home from her session: the phone rings with sound, the call connects through the relay', { skip }, async () => {
  const kiosk = await openKiosk('zh-CN');
  const app = await openApp('zh-CN');
  try {
    await swipe(kiosk.p, s.amy.card_uid);
    await kiosk.p.locator(tid('session')).waitFor();
    await kiosk.p.locator(`${tid('conversation')}[data-peer-id="${s.mumUser.id}"]`).click();
    const beepsBefore = await app.p.evaluate(() => Number(document.body.dataset.beeps || 0));
    await kiosk.p.locator(tid('call-voice')).click();
    await app.p.locator(tid('ring-screen')).waitFor();
    assert.match(await app.p.locator(tid('ring-name')).innerText(), /Amy Chen/);
    await until(() => app.p.evaluate((n) => Number(document.body.dataset.beeps || 0) > n, beepsBefore), { message: 'a ring sound' });
    await shot(app.p, 'calls-app-ringing-zh');
    await app.p.locator(tid('ring-answer')).click();
    await app.p.locator(tid('call-view')).and(app.p.locator('[data-state="active"]')).waitFor();
    await assertFlowing(app.p, false);
    await assertFlowing(kiosk.p, false);
    await shot(kiosk.p, 'calls-kiosk-call-zh');
    await kiosk.p.locator(tid('call-end')).click();
    await app.p.locator(tid('call-view')).waitFor({ state: 'detached' });
  } finally {
    await kiosk.browser.close();
    await app.browser.close();
  }
});

test('a call nobody answers leaves its trace in the thread; the ringing screen in English', { skip }, async () => {
  const app = await openApp('en');
  try {
    // Amy (in a doorplate session, through the API) calls; her mother does not answer.
    const sess = await fetch(`${server.url}/api/v1/doorplate/sessions`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${s.device}` },
      body: JSON.stringify({ credential: { card: s.amy.card_uid } }),
    }).then((r) => r.json());
    const res = await fetch(`${server.url}/api/v1/calls`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${sess.session_token}` },
      body: JSON.stringify({ peer_id: s.mumUser.id, video: true }),
    }).then((r) => r.json());
    await app.p.locator(tid('ring-screen')).waitFor();
    await shot(app.p, 'calls-app-ringing-en');
    // The caller gives up: a missed call for the mother, in the thread.
    await fetch(`${server.url}/api/v1/calls/${res.call.id}/end`, { method: 'POST', headers: { Authorization: `Bearer ${sess.session_token}` } });
    await app.p.locator(tid('ring-screen')).waitFor({ state: 'detached' });
    const { conversation } = await s.mum.api.post('/api/v1/conversations', { peer_id: s.amy.id });
    await app.p.goto(`/app/?lang=en#/c/${conversation.id}`);
    await app.p.reload();
    await app.p.locator(tid('msg-call')).filter({ hasText: 'Missed video call' }).first().waitFor();
    // Amy has left: the call button says why not.
    await fetch(`${server.url}/api/v1/doorplate/checkout`, {
      method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${s.device}` },
      body: JSON.stringify({ credential: { card: s.amy.card_uid } }),
    });
    await app.p.reload();
    await app.p.locator(tid('call-why')).filter({ hasText: 'doorplate' }).waitFor();
  } finally {
    await app.browser.close();
  }
});

// The screenshots also land in /work/notes/shots-calls when that folder exists.
after(() => {
  const dest = '/work/notes/shots-calls';
  if (!existsSync(dest)) return;
  try { execFileSync('sh', ['-c', `cp ${path.resolve('artifacts')}/calls-*.png ${dest}/ 2>/dev/null || true`]); } catch { /* optional */ }
});

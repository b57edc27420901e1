// Browser tests for supervising calls and answering at a busy doorplate (issue 13),
// against the real server binary: the class teacher's console lists the live call (the
// student, the guardian, the room, voice or video, a running duration) and ends it, and
// both the doorplate and the phone show that a teacher ended it; an admin's console
// lists it too. A ring for one child while another student's session is open on the
// doorplate is answered by the child's proof, through "Answer" and by a card swiped
// straight away. No relay is needed here: these are the server's states, not media
// (calls.test.mjs proves the media through coturn). Screenshots in
// e2e/artifacts/calls-console-*.png (and /work/notes/shots-calls2 when it exists).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { startServer, serverAvailable, schoolAdmin, login, BIN } from './lib/server.mjs';
import { launch, shot, until, LANDSCAPE } from './lib/browser.mjs';

const skip = serverAvailable() ? false : `server binary not found at ${BIN} (set DOORPLATE_BIN)`;
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1440, height: 900 };
const tid = (id) => `[data-testid="${id}"]`;

let server;
let school;
const s = {};

before(async () => {
  if (skip) return;
  server = await startServer();
  school = await schoolAdmin(server);
  // Calls all day, whenever the test runs, and enough of them.
  const settings = await school.settings();
  const allDay = { from: '00:00', to: '23:59' };
  await school.patchSettings({ calls: { ...settings.calls, hours: Array(7).fill(allDay), per_student_per_day: 20 } });
  s.teacher = await school.teacher('Li Hua');
  s.amy = await school.student('Amy Chen');
  s.ben = await school.student('Ben Zhao');
  s.mumUser = await school.guardian('Mei Chen');
  await school.link(s.mumUser.id, s.amy.id);
  s.group = await school.group('Class 3-2', [s.amy.id, s.ben.id], s.teacher.id);
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
});

/** What a USB card reader does: a fast burst of keys, then Enter. */
async function swipe(p, text) {
  await p.keyboard.type(text, { delay: 5 });
  await p.keyboard.press('Enter');
}

async function device(p, body) {
  const res = await fetch(`${server.url}${p}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${s.device}` }, body: JSON.stringify(body),
  });
  assert.ok(res.ok, `${p} → ${res.status}`);
}

const checkIn = (student) => device('/api/v1/doorplate/checkin', { credential: { card: student.card_uid } });

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

/** The console, signed in, on its Calls view. */
async function openConsole(username, password, lang = 'en') {
  const browser = await launch({ baseURL: server.url, viewport: DESKTOP });
  const p = await browser.newPage(DESKTOP);
  await p.goto(`/admin/?lang=${lang}`);
  await p.locator(tid('login-username')).fill(username);
  await p.locator(tid('login-password')).fill(password);
  await p.locator(tid('login-submit')).click();
  await p.locator('.shell').waitFor();
  await p.locator(tid('nav-calls')).click();
  await p.locator('.view-inner[data-view="calls"]').waitFor();
  await p.waitForFunction(() => !document.querySelector('.view .loading'));
  return { browser, p };
}

/** The kiosk's own call view reached the answered state. */
const answered = (p) => p.locator(tid('call-view')).and(p.locator('[data-state="active"]')).waitFor({ timeout: 20_000 });

test('the class teacher sees the live call in the console, with both names, where and for how long, and ends it: both sides show that a teacher ended it', { skip }, async () => {
  await checkIn(s.amy);
  const kiosk = await openKiosk('en');
  const app = await openApp('en');
  const console_ = await openConsole(s.teacher.username, s.teacher.password, 'en');
  const cp = console_.p;
  try {
    // Nothing yet: the page says so, and that calls are never recorded.
    await cp.locator(tid('empty')).waitFor();
    assert.match(await cp.locator(tid('calls-not-recorded')).innerText(), /Calls are not recorded/);
    assert.ok(await cp.locator(tid('nav-calls-count')).isHidden());

    // Amy's mother calls (video) from the app; Amy answers at the door with her card.
    const { conversation } = await s.mum.api.post('/api/v1/conversations', { peer_id: s.amy.id });
    await app.p.goto(`/app/?lang=en#/c/${conversation.id}`);
    await app.p.reload();
    await app.p.locator(tid('thread-name')).filter({ hasText: 'Amy Chen' }).waitFor();
    await app.p.locator(tid('call-video')).click();
    await kiosk.p.locator(tid('ring-card')).waitFor();
    // A ring is not a call yet: the console waits for the answer.
    assert.equal(await cp.locator(tid('call-row')).count(), 0);
    await kiosk.p.locator(tid('ring-answer')).click();
    await kiosk.p.locator(tid('proof-sheet')).waitFor();
    await swipe(kiosk.p, s.amy.card_uid);
    await answered(kiosk.p);
    await answered(app.p);

    // The console shows it live (from `call.started`, no reload): who, where, what, since.
    const row = cp.locator(tid('call-row'));
    await row.waitFor();
    assert.equal(await row.count(), 1);
    assert.equal(await row.locator(tid('call-student')).innerText(), 'Amy Chen');
    assert.equal(await row.locator(tid('call-guardian')).innerText(), 'Mei Chen');
    assert.match(await row.innerText(), /Called the student/);
    assert.match(await row.locator(tid('call-where')).innerText(), /Room 204[\s\S]*Door 204/);
    assert.equal(await row.locator(tid('call-kind')).innerText(), 'Video');
    assert.match(await row.locator(tid('call-since')).innerText(), /^\d\d:\d\d$/);
    assert.match(await row.innerText(), /Class 3-2/);
    assert.equal(await cp.locator(tid('nav-calls-count')).innerText(), '1');
    // The duration runs.
    const first = await row.locator(tid('call-duration')).innerText();
    assert.match(first, /^\d+:\d\d$/);
    await until(async () => (await row.locator(tid('call-duration')).innerText()) !== first, { message: 'the duration to tick' });
    await shot(cp, 'calls-console-live-en');
    // The same in Chinese.
    await cp.locator(tid('lang-switch')).click();
    await cp.locator(tid('calls-not-recorded')).filter({ hasText: '通话不会被录音录像' }).waitFor();
    await cp.locator(tid('call-row')).filter({ hasText: '视频' }).waitFor();
    await shot(cp, 'calls-console-live-zh');
    await cp.locator(tid('lang-switch')).click();
    await cp.locator(tid('calls-not-recorded')).filter({ hasText: 'Calls are not recorded' }).waitFor();

    // End it: a confirm first (cancel keeps the call), then both faces close it.
    await cp.locator(tid('call-row')).locator(tid('call-end')).click();
    await cp.locator(tid('call-end-dialog')).waitFor();
    assert.match(await cp.locator(tid('call-end-dialog')).innerText(), /Amy Chen and Mei Chen/);
    await shot(cp, 'calls-console-confirm-en');
    await cp.locator(tid('call-end-dialog-cancel')).click();
    await cp.locator(tid('call-end-dialog')).waitFor({ state: 'detached' });
    assert.equal(await cp.locator(tid('call-row')).count(), 1);
    await answered(kiosk.p);
    await cp.locator(tid('call-row')).locator(tid('call-end')).click();
    await cp.locator(tid('call-end-dialog-confirm')).click();
    await kiosk.p.locator(tid('call-view')).waitFor({ state: 'detached' });
    await app.p.locator(tid('call-view')).waitFor({ state: 'detached' });
    await kiosk.p.locator(tid('toast')).filter({ hasText: 'A teacher ended the call.' }).waitFor();
    await app.p.locator(tid('toast')).filter({ hasText: 'A teacher ended the call.' }).waitFor();
    await shot(app.p, 'calls-console-app-ended-en');
    await cp.locator(tid('call-row')).waitFor({ state: 'detached' });
    await cp.locator(tid('empty')).waitFor();
    assert.ok(await cp.locator(tid('nav-calls-count')).isHidden());
    // The server agrees: over, ended by the teacher.
    const audit = await school.api.get('/api/v1/audit?action=call.ended');
    assert.equal(audit[0].detail.reason, 'ended_by_staff');
    assert.equal(audit[0].actor_id, s.teacher.id);
  } finally {
    await kiosk.browser.close();
    await app.browser.close();
    await console_.browser.close();
  }
});

test('a ring for one child while another student\'s session is open: "Answer" shows the proof sheet over it, and the child\'s card answers — through the sheet or swiped at once; an admin\'s console lists the call', { skip }, async () => {
  await checkIn(s.amy);
  await checkIn(s.ben);
  const kiosk = await openKiosk('en');
  const admin = await openConsole(server.admin.username, server.admin.password, 'zh-CN');
  const kp = kiosk.p;
  try {
    // Ben opens his messages.
    await swipe(kp, s.ben.card_uid);
    await kp.locator(`${tid('session')}[data-user-id="${s.ben.id}"]`).waitFor();
    // Amy's mother calls her (voice): the ring shows over Ben's session, her name only.
    const first = await s.mum.api.post('/api/v1/calls', { peer_id: s.amy.id, video: false });
    const ring = kp.locator(tid('ring-card'));
    await ring.waitFor();
    assert.match(await ring.innerText(), /Amy Chen/);
    assert.doesNotMatch(await kp.locator('body').innerText(), /Mei Chen/);
    await shot(kp, 'calls-console-kiosk-ring-over-session-en');
    // "Answer": the proof sheet opens over the session, the ring card steps aside.
    await kp.locator(tid('ring-answer')).click();
    const sheet = kp.locator(tid('proof-sheet'));
    await sheet.waitFor({ state: 'visible' });
    assert.match(await sheet.innerText(), /Amy Chen/);
    // It is really on top: the sheet's own button is what a tap there reaches.
    const box = await kp.locator(tid('proof-close')).boundingBox();
    const hit = await kp.evaluate(({ x, y }) => document.elementFromPoint(x, y)?.closest('[data-testid]')?.dataset.testid, { x: box.x + box.width / 2, y: box.y + box.height / 2 });
    assert.equal(hit, 'proof-close');
    assert.ok(await ring.isHidden());
    await shot(kp, 'calls-console-kiosk-answer-sheet-en');
    // Closing the sheet brings the ring back; "Answer" again, and Amy's card answers.
    await kp.locator(tid('proof-close')).click();
    await ring.waitFor({ state: 'visible' });
    await kp.locator(tid('ring-answer')).click();
    await sheet.waitFor({ state: 'visible' });
    await swipe(kp, s.amy.card_uid);
    await answered(kp);
    assert.equal(await kp.locator(tid('call-name')).innerText(), 'Mei Chen');
    const got = await s.mum.api.get(`/api/v1/calls/${first.call.id}`);
    assert.equal(got.call.state, 'active');
    // The admin's console lists it too (in Chinese).
    const row = admin.p.locator(tid('call-row'));
    await row.waitFor();
    assert.equal(await row.locator(tid('call-student')).innerText(), 'Amy Chen');
    assert.equal(await row.locator(tid('call-kind')).innerText(), '语音');
    await shot(admin.p, 'calls-console-admin-zh');
    await kp.locator(tid('call-end')).click();
    await kp.locator(tid('call-view')).waitFor({ state: 'detached' });
    await row.waitFor({ state: 'detached' });

    // Again, and this time Amy just swipes her card while Ben's session is open.
    await swipe(kp, s.ben.card_uid);
    await kp.locator(`${tid('session')}[data-user-id="${s.ben.id}"]`).waitFor();
    const second = await s.mum.api.post('/api/v1/calls', { peer_id: s.amy.id, video: false });
    await ring.waitFor({ state: 'visible' });
    await swipe(kp, s.amy.card_uid);
    await answered(kp);
    assert.equal((await s.mum.api.get(`/api/v1/calls/${second.call.id}`)).call.state, 'active');
    // The session under the call is Amy's now (a new proof replaces the open one).
    await kp.locator(`${tid('session')}[data-user-id="${s.amy.id}"]`).waitFor({ state: 'attached' });
    await row.waitFor();
    await kp.locator(tid('call-end')).click();
    await kp.locator(tid('call-view')).waitFor({ state: 'detached' });
    await row.waitFor({ state: 'detached' });

    // The audit keeps the end: who ended it, why and how long it lasted (never content).
    await admin.p.locator(tid('nav-audit')).click();
    await admin.p.locator('.view-inner[data-view="audit"]').waitFor();
    await admin.p.locator(tid('audit-action')).selectOption('call.ended');
    const entry = admin.p.locator(tid('audit-row')).first();
    await entry.filter({ hasText: '被叫挂断' }).waitFor();
    assert.match(await entry.innerText(), /Amy Chen[\s\S]*时长/);
    await shot(admin.p, 'calls-console-audit-zh');
  } finally {
    await kiosk.browser.close();
    await admin.browser.close();
  }
});

// The screenshots also land in /work/notes/shots-calls2 when that folder exists.
after(() => {
  const dest = '/work/notes/shots-calls2';
  if (!existsSync(dest)) return;
  try { execFileSync('sh', ['-c', `cp ${path.resolve('artifacts')}/calls-console-*.png ${dest}/ 2>/dev/null || true`]); } catch { /* optional */ }
});

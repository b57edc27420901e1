// Browser tests for issue 17 items 3, 4 and 5, against the real server binary:
//   - a class teacher's urgent alert stays in the app and the console until acknowledged;
//   - the kiosk's "next period" turns at a boundary, even on a screen whose clock is
//     ahead of the server's, and names the day of a period that is not today;
//   - at 1280×800 the exam card and the big clock do not overlap.
// Screenshots land in e2e/artifacts/{app,console,kiosk}-*.png.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, serverAvailable, schoolAdmin, login, sendMessage, dayOf, BIN } from './lib/server.mjs';
import { launch, shot, LANDSCAPE } from './lib/browser.mjs';

const skip = serverAvailable() ? false : `server binary not found at ${BIN} (set DOORPLATE_BIN)`;
const PHONE = { width: 390, height: 844 };
const tid = (id) => `[data-testid="${id}"]`;

let server;
let school;
const s = {};

before(async () => {
  if (skip) return;
  server = await startServer();
  school = await schoolAdmin(server);
  s.teacher = await school.teacher('Li Hua');
  s.amy = await school.student('Amy Chen');
  s.mumUser = await school.guardian('Mei Chen');
  await school.link(s.mumUser.id, s.amy.id);
  s.group = await school.group('Class 3-2', [s.amy.id], s.teacher.id);
  s.mum = await login(server.url, s.mumUser.username, s.mumUser.password);
});

after(async () => {
  if (server) await server.cleanup();
});

async function appLogin(p, user) {
  await p.locator(tid('login-username')).fill(user.username);
  await p.locator(tid('login-password')).fill(user.password);
  await p.locator(tid('login-submit')).click();
  await p.locator(tid('home')).waitFor();
}

test('an urgent alert waits in the teacher\'s app until acknowledged, and opens the conversation', { skip }, async () => {
  // Sent while the teacher has no page open: no socket hears it.
  await sendMessage(s.mum.api, s.amy.id, 'Amy has a fever, please call me', { urgent: true });
  const browser = await launch({ baseURL: server.url, viewport: PHONE });
  try {
    const p = await browser.newPage(PHONE);
    await p.goto('/app/?lang=en');
    await appLogin(p, s.teacher);
    const alert = p.locator(tid('urgent-alert'));
    await alert.filter({ hasText: 'Urgent message from Mei Chen to Amy Chen' }).waitFor();
    assert.equal(await p.locator(tid('alerts-count')).innerText(), '1');

    // A reload keeps it.
    await p.reload();
    await alert.filter({ hasText: 'Mei Chen' }).waitFor();
    assert.equal(await alert.count(), 1);
    await shot(p, 'app-teacher-alert-en');
    await p.goto('/app/?lang=zh-CN');
    await alert.filter({ hasText: 'Mei Chen 给 Amy Chen 发来紧急消息' }).waitFor();
    await p.locator(tid('alert-ack')).filter({ hasText: '知道了' }).waitFor();
    await shot(p, 'app-teacher-alert-zh');
    await p.goto('/app/?lang=en');

    // Tapping it opens the teacher's conversation with the guardian; the alert stays.
    await alert.locator(tid('alert-open')).click();
    await p.locator(tid('thread-name')).filter({ hasText: 'Mei Chen' }).waitFor();
    assert.equal(await alert.count(), 1, 'opening is not acknowledging');
    await p.locator(tid('back')).click();

    // Acknowledged: gone, and it stays gone after a reload.
    await alert.locator(tid('alert-ack')).click();
    await alert.waitFor({ state: 'detached' });
    assert.equal(await p.locator(tid('alerts-count')).count(), 0);
    await p.reload();
    await p.locator(tid('home')).waitFor();
    await p.locator('body[data-live="connected"]').waitFor({ state: 'attached' });
    assert.equal(await alert.count(), 0);
    const left = await login(server.url, s.teacher.username, s.teacher.password);
    assert.deepEqual((await left.api.get('/api/v1/alerts')).alerts, []);
  } finally {
    await browser.close();
  }
});

test('the console shows a teacher\'s urgent alerts, links to the conversation, and acknowledges', { skip }, async () => {
  await sendMessage(s.mum.api, s.amy.id, 'Please call me now', { urgent: true });
  const browser = await launch({ baseURL: server.url, viewport: LANDSCAPE });
  try {
    const p = await browser.newPage(LANDSCAPE);
    await p.goto('/admin?lang=en');
    await p.locator(tid('login-username')).fill(s.teacher.username);
    await p.locator(tid('login-password')).fill(s.teacher.password);
    await p.locator(tid('login-submit')).click();
    const alert = p.locator(`${tid('alerts')} ${tid('urgent-alert')}`);
    await alert.filter({ hasText: 'Urgent message from Mei Chen to Amy Chen' }).waitFor();
    assert.equal(await p.locator(tid('alerts-count')).innerText(), '1');
    assert.equal(await alert.locator(tid('alert-open')).getAttribute('href'), `/app/#/to/${s.mumUser.id}`);
    await shot(p, 'console-alert-en');
    await p.goto('/admin?lang=zh-CN');
    await alert.filter({ hasText: '发来紧急消息' }).waitFor();
    await shot(p, 'console-alert-zh');

    // The link opens the app on the conversation with the guardian (signed in there too).
    const app = await browser.newPage(PHONE);
    await app.goto('/app/?lang=en');
    await appLogin(app, s.teacher);
    await app.goto(`/app/#/to/${s.mumUser.id}`);
    await app.locator(tid('thread-name')).filter({ hasText: 'Mei Chen' }).waitFor();
    await app.close();

    await alert.locator(tid('alert-ack')).click();
    await alert.waitFor({ state: 'detached' });
    await p.reload();
    await p.locator(tid('view')).waitFor();
    await p.locator(tid('nav-people')).waitFor();
    assert.equal(await alert.count(), 0);
  } finally {
    await browser.close();
  }
});

/** A kiosk for a new room whose screen clock runs `skewMs` ahead of the server's. */
async function kioskFor(roomName, { skewMs = 0, lang = 'en' } = {}) {
  const room = await school.room(roomName);
  const plate = await school.doorplate(room.id, `${roomName} door`);
  const browser = await launch({ baseURL: server.url, viewport: LANDSCAPE });
  if (skewMs) {
    await browser.context.addInitScript((skew) => {
      const RealDate = Date;
      class ScreenDate extends RealDate {
        constructor(...args) { if (args.length) super(...args); else super(RealDate.now() + skew); }
        static now() { return RealDate.now() + skew; }
      }
      globalThis.Date = ScreenDate;
    }, skewMs);
  }
  const p = await browser.newPage(LANDSCAPE);
  await p.goto(`/kiosk?lang=${lang}`);
  await p.locator(tid('pair-code')).fill(plate.pairing_code);
  await p.locator(tid('pair-submit')).click();
  await p.locator(tid('room')).waitFor({ state: 'visible' });
  return { room, plate, browser, p };
}

const iso = (ms) => new Date(ms).toISOString();

test('"next" turns at the boundary on a kiosk whose clock is ahead, and names a day that is not today', { skip }, async () => {
  // The screen's clock is 5 s ahead: timed by it, the kiosk asked just before the
  // boundary and then waited for nothing, keeping the ended exam on screen.
  const { room, browser, p } = await kioskFor('Room 405', { skewMs: 5000 });
  try {
    // The next school day (Monday to Friday) after today, for a weekly slot.
    const now = Date.now();
    let ahead = 1;
    while ([6, 7].includes(dayOf(new Date(now + ahead * 86_400_000)).weekday)) ahead++;
    const nextDay = dayOf(new Date(now + ahead * 86_400_000));
    await school.api.post('/api/v1/timetable', {
      room_id: room.id, weekday: nextDay.weekday, start: '08:00', end: '08:40', kind: 'lesson', title: 'Chemistry',
      group_id: s.group.id, teacher_id: s.teacher.id,
    });
    const boundary = now + 7000;
    await school.api.post('/api/v1/arrangements', {
      room_id: room.id, kind: 'exam', title: 'Final exam: Maths', starts_at: iso(now - 25 * 60_000), ends_at: iso(boundary),
      group_ids: [s.group.id], teacher_id: s.teacher.id,
    });
    await school.api.post('/api/v1/arrangements', {
      room_id: room.id, kind: 'lesson', title: 'Biology', starts_at: iso(boundary), ends_at: iso(boundary + 40 * 60_000),
      group_ids: [s.group.id], teacher_id: s.teacher.id,
    });

    // During the exam: "next" is the lesson after it, today (no day named), never the exam.
    await p.locator(tid('current-title')).filter({ hasText: 'Final exam: Maths' }).waitFor();
    await p.locator(tid('next-title')).filter({ hasText: 'Biology' }).waitFor();
    assert.equal(await p.locator(tid('next-day')).count(), 0, 'a period today names no day');
    assert.ok(Date.now() < boundary, 'checked before the boundary');

    // After the boundary, by itself: the lesson is current and "next" is the weekly slot
    // of another day, with that day named.
    await p.locator(tid('current-title')).filter({ hasText: 'Biology' }).waitFor({ timeout: 15_000 });
    await p.locator(tid('next-title')).filter({ hasText: 'Chemistry' }).waitFor();
    const expectedDay = ahead === 1 ? 'Tomorrow'
      : new Intl.DateTimeFormat('en', { timeZone: 'UTC', weekday: 'short', month: 'short', day: 'numeric' }).format(new Date(now + ahead * 86_400_000));
    assert.equal(await p.locator(tid('next-day')).innerText(), expectedDay);
    assert.ok(!(await p.locator(tid('band')).innerText()).includes('Final exam'), 'the ended exam is nowhere on the band');
    await shot(p, 'kiosk-next-other-day-en');
    await p.goto('/kiosk?lang=zh-CN');
    await p.locator(tid('next-day')).filter({ hasText: ahead === 1 ? '明天' : /\S/ }).waitFor();
    await shot(p, 'kiosk-next-other-day-zh');
  } finally {
    await browser.close();
  }
});

/** Whether two boxes overlap (touching edges do not). */
function intersects(a, b) {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

test('at 1280×800 the exam card and the big clock do not overlap, in English and Chinese', { skip }, async () => {
  const { room, browser, p } = await kioskFor('Exam Room 405');
  try {
    const now = Date.now();
    await school.api.post('/api/v1/arrangements', {
      room_id: room.id, kind: 'exam', title: 'Final exam: Mathematics, paper 2 (calculator allowed)',
      starts_at: iso(now - 10 * 60_000), ends_at: iso(now + 50 * 60_000), group_ids: [s.group.id], teacher_id: s.teacher.id,
    });
    for (const lang of ['en', 'zh-CN']) {
      await p.goto(`/kiosk?lang=${lang}`);
      await p.locator(tid('exam-note')).waitFor();
      await p.locator(tid('clock')).filter({ hasText: /\d\d:\d\d/ }).waitFor();
      const card = await p.locator(tid('current')).boundingBox();
      const clock = await p.locator(tid('clock')).boundingBox();
      const date = await p.locator(tid('date')).boundingBox();
      assert.ok(!intersects(card, clock), `${lang}: exam card ${JSON.stringify(card)} overlaps the clock ${JSON.stringify(clock)}`);
      assert.ok(!intersects(card, date), `${lang}: exam card overlaps the date`);
      // The card and the clock are both on the screen, whole.
      for (const box of [card, clock]) assert.ok(box.x >= 0 && box.x + box.width <= LANDSCAPE.width, `${lang}: ${JSON.stringify(box)} is on screen`);
      await shot(p, `kiosk-exam-1280-${lang === 'en' ? 'en' : 'zh'}`);
    }
  } finally {
    await browser.close();
  }
});

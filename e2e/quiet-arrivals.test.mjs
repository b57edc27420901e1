// Issue 17, items 12 and 13 in the family app and the console. A teacher sets quiet hours
// in the app's menu; a message inside them is listed without a beep (an urgent one from a
// guardian still beeps), and the guardian's thread says until when the teacher is quiet.
// A guardian turns on arrival notices on the child card and is told "checked in at
// Dormitory 3 at 21:03" (or "at school" where rooms are hidden); the console's settings
// page has the school's switch. English and Chinese; screenshots in e2e/artifacts/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, serverAvailable, schoolAdmin, login, client, sendMessage, hhmm, BIN } from './lib/server.mjs';
import { launch, shot, until } from './lib/browser.mjs';

const skip = serverAvailable() ? false : `server binary not found at ${BIN} (set DOORPLATE_BIN)`;
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

let server;
const browsers = [];
const s = {};

const tid = (id) => `[data-testid="${id}"]`;

async function appPage(user, lang = 'en') {
  const browser = await launch({ baseURL: server.url, viewport: PHONE });
  browsers.push(browser);
  const page = await browser.newPage(PHONE);
  await page.goto(`/app?lang=${lang}`);
  await page.locator(tid('login-username')).fill(user.username);
  await page.locator(tid('login-password')).fill(user.password);
  await page.locator(tid('login-submit')).click();
  await page.locator(tid('home')).waitFor();
  await page.locator('body[data-live="connected"]').waitFor({ state: 'attached' });
  return page;
}

async function setLang(page, lang) {
  await page.locator(tid('menu')).click();
  await page.locator(tid(`lang-${lang}`)).click();
  await page.locator(`html[lang="${lang}"]`).waitFor({ state: 'attached' });
  await page.keyboard.press('Escape');
}

const beeps = async (page) => Number(await page.evaluate(() => document.body.dataset.beeps || 0));

before(async () => {
  if (skip) return;
  server = await startServer();
  const school = await schoolAdmin(server);
  s.school = school;
  s.teacher = await school.teacher('Li Hua');
  s.amy = await school.student('Amy Chen');
  s.mumUser = await school.guardian('Mei Chen');
  await school.link(s.mumUser.id, s.amy.id);
  s.room = await school.room('Dormitory 3', 'dorm');
  await school.group('Class 7-2', [s.amy.id], s.teacher.id);
  const plate = await school.doorplate(s.room.id, 'Dormitory 3 door');
  const paired = await client(server.url).post('/api/v1/devices/pair', { pairing_code: plate.pairing_code });
  s.device = client(server.url, paired.device_token);
  s.mum = await login(server.url, s.mumUser.username, s.mumUser.password);
  s.li = await login(server.url, s.teacher.username, s.teacher.password);
});

after(async () => {
  for (const b of browsers) await b.close();
  if (server) await server.cleanup();
});

test('a guardian turns on arrival notices and is told where and when, or only "at school"', { skip }, async () => {
  const page = await appPage(s.mumUser);
  const sw = page.locator(tid('arrival-switch'));
  await page.locator('.switch-label').filter({ hasText: 'Tell me when Amy Chen checks in' }).waitFor();
  assert.equal(await sw.isChecked(), false, 'off by default');
  // Off: a check-in moves the card but tells her nothing.
  await s.device.post('/api/v1/doorplate/checkin', { credential: { card: s.amy.card_uid } });
  await page.locator(tid('child-where')).filter({ hasText: 'Dormitory 3' }).waitFor();
  assert.equal(await page.locator(tid('child-arrival')).count(), 0);
  await s.device.post('/api/v1/doorplate/checkout', { credential: { card: s.amy.card_uid } }, { expect: 204 });
  await page.locator(tid('child-where')).filter({ hasText: 'Not checked in' }).waitFor();

  await page.locator('.child-switch').click();
  await page.locator(tid('toast')).filter({ hasText: 'You will be told when Amy Chen checks in.' }).waitFor();
  await until(async () => (await s.mum.api.get('/api/v1/children'))[0].arrival_notices === true, { message: 'the choice is stored' });

  await s.device.post('/api/v1/doorplate/checkin', { credential: { card: s.amy.card_uid } });
  const at = hhmm(new Date());
  const line = page.locator(tid('child-arrival'));
  await line.filter({ hasText: /^Amy Chen checked in at Dormitory 3 at \d\d:\d\d$/ }).waitFor();
  const shown = (await line.innerText()).match(/(\d\d:\d\d)$/)[1];
  assert.ok(Math.abs(toMin(shown) - toMin(at)) <= 1 || Math.abs(toMin(shown) - toMin(at)) >= 1438, `the time (${shown} vs ${at})`);
  await page.locator(tid('toast')).filter({ hasText: `Amy Chen checked in at Dormitory 3 at ${shown}` }).waitFor();
  await shot(page, 'family-arrival-en');

  // The school hides rooms: the next notice says "at school", in Chinese too.
  await s.device.post('/api/v1/doorplate/checkout', { credential: { card: s.amy.card_uid } }, { expect: 204 });
  await s.school.patchSettings({ show_room_to_guardians: false });
  await setLang(page, 'zh-CN');
  await page.locator('.switch-label').filter({ hasText: 'Amy Chen 签到时通知我' }).waitFor();
  assert.equal(await sw.isChecked(), true);
  await s.device.post('/api/v1/doorplate/checkin', { credential: { card: s.amy.card_uid } });
  await line.filter({ hasText: /^Amy Chen \d\d:\d\d 在学校签到$/ }).waitFor();
  await page.locator(tid('toast')).filter({ hasText: '在学校签到' }).waitFor();
  assert.ok(!(await page.locator('body').innerText()).includes('Dormitory 3'), 'no room anywhere');
  await shot(page, 'family-arrival-school-zh');
  await s.device.post('/api/v1/doorplate/checkout', { credential: { card: s.amy.card_uid } }, { expect: 204 });
  await s.school.patchSettings({ show_room_to_guardians: true });
});

test('the console turns arrival notices off for the school, and the switch leaves the app', { skip }, async () => {
  const browser = await launch({ baseURL: server.url, viewport: DESKTOP });
  browsers.push(browser);
  const page = await browser.newPage(DESKTOP);
  await page.goto('/admin?lang=en');
  await page.locator(tid('login-username')).fill(server.admin.username);
  await page.locator(tid('login-password')).fill(server.admin.password);
  await page.locator(tid('login-submit')).click();
  await page.locator('.shell').waitFor();
  await openSettings(page);
  const box = page.locator(tid('set-arrival-notices'));
  await page.getByText('Guardians may choose to be told when their child checks in').waitFor();
  assert.equal(await box.isChecked(), true, 'on by default');
  await box.scrollIntoViewIfNeeded();
  await shot(page, 'admin-arrival-setting-en');
  await box.uncheck();
  await page.locator(tid('settings-save')).click();
  await until(async () => (await s.school.settings()).arrival_notices === false, { message: 'the setting is saved' });

  // The guardian's card shows no switch now, and a check-in tells nobody.
  const app = await appPage(s.mumUser, 'en');
  await page.goto('/admin?lang=zh-CN');
  await page.locator('.shell').waitFor();
  await openSettings(page);
  await page.getByText('家长可以选择在孩子签到时收到通知').waitFor();
  assert.equal(await box.isChecked(), false);
  await shot(page, 'admin-arrival-setting-zh');
  await app.locator(tid('child-card')).waitFor();
  assert.equal(await app.locator(tid('arrival-switch')).count(), 0);
  await s.device.post('/api/v1/doorplate/checkin', { credential: { card: s.amy.card_uid } });
  await app.locator(tid('child-where')).filter({ hasText: 'Dormitory 3' }).waitFor();
  assert.equal(await app.locator(tid('child-arrival')).count(), 0);
  await s.device.post('/api/v1/doorplate/checkout', { credential: { card: s.amy.card_uid } }, { expect: 204 });
  await s.school.patchSettings({ arrival_notices: true });
});

test('a teacher sets quiet hours; messages in them come without a beep and the guardian sees until when', { skip }, async () => {
  const teacher = await appPage(s.teacher);
  // Before: a message from Mei beeps.
  const { conversation } = await sendMessage(s.mum.api, s.teacher.id, 'Before the quiet');
  s.conv = conversation;
  await teacher.locator(tid('conversation-last')).filter({ hasText: 'Before the quiet' }).waitFor();
  await until(async () => (await beeps(teacher)) === 1, { message: 'one beep' });

  // Today, from an hour ago to two hours from now (the school's zone is UTC).
  const now = new Date();
  const from = hhmm(new Date(now.getTime() - 3_600_000));
  const to = hhmm(new Date(now.getTime() + 2 * 3_600_000));
  const weekday = ((now.getUTCDay() + 6) % 7) + 1;
  s.quietDay = { weekday, span: { from, to } };
  await teacher.locator(tid('menu')).click();
  await teacher.locator(tid('quiet-hours')).click();
  await teacher.locator(tid('quiet-form')).locator(tid('quiet-day')).first().waitFor();
  const row = teacher.locator(`${tid('quiet-day')}[data-day="${weekday}"]`);
  await row.locator(tid('quiet-day-on')).check();
  await row.locator(tid('quiet-from')).fill(from);
  await row.locator(tid('quiet-to')).fill(to);
  await teacher.locator(tid('quiet-now')).filter({ hasText: 'You are not in quiet hours now.' }).waitFor();
  await shot(teacher, 'app-quiet-hours-en');
  await teacher.locator(tid('quiet-save')).click();
  await teacher.locator(tid('toast')).filter({ hasText: 'Quiet hours saved.' }).waitFor();
  const mine = await s.li.api.get('/api/v1/me/quiet-hours');
  assert.deepEqual(mine.quiet_hours.days[weekday - 1], { from, to });
  assert.ok(mine.now, 'quiet now');

  // In quiet hours: listed, no beep, and its status stays "sent".
  const { message } = await sendMessage(s.mum.api, s.teacher.id, 'During the quiet');
  assert.equal(message.status, 'sent');
  await teacher.locator(tid('conversation-last')).filter({ hasText: 'During the quiet' }).waitFor();
  assert.equal(await beeps(teacher), 1, 'no sound in quiet hours');
  // An urgent one from a guardian still alerts.
  await sendMessage(s.mum.api, s.teacher.id, 'Amy is ill', { urgent: true });
  await teacher.locator(tid('conversation-last')).filter({ hasText: 'Amy is ill' }).waitFor();
  await until(async () => (await beeps(teacher)) === 2, { message: 'the urgent one beeps' });

  // The guardian's thread with Li Hua says until when, in English and Chinese.
  const mum = await appPage(s.mumUser);
  await mum.locator(`${tid('conversation')}[data-peer-id="${s.teacher.id}"]`).click();
  const strip = mum.locator(tid('thread-quiet'));
  await strip.filter({ hasText: `Li Hua is in quiet hours until ${mine.now.until_time}` }).waitFor();
  await shot(mum, 'family-teacher-quiet-en');
  await mum.locator(tid('back')).click();
  await setLang(mum, 'zh-CN');
  await mum.locator(`${tid('conversation')}[data-peer-id="${s.teacher.id}"]`).click();
  await strip.filter({ hasText: `Li Hua 处于免打扰时段，直到` }).waitFor();
  assert.ok((await strip.innerText()).includes(mine.now.until_time));
  await shot(mum, 'family-teacher-quiet-zh');

  // The teacher's own sheet, in Chinese, says they are in quiet hours now.
  await setLang(teacher, 'zh-CN');
  await teacher.locator(tid('menu')).click();
  await teacher.locator(tid('quiet-hours')).click();
  await teacher.locator(tid('quiet-now')).filter({ hasText: `你现在处于免打扰时段，直到 ${mine.now.until_time}` }).waitFor();
  await shot(teacher, 'app-quiet-hours-zh');
});

test('an admin sees and sets a teacher\'s quiet hours in the person panel', { skip }, async () => {
  const browser = await launch({ baseURL: server.url, viewport: DESKTOP });
  browsers.push(browser);
  const page = await browser.newPage(DESKTOP);
  await page.goto('/admin?lang=en');
  await page.locator(tid('login-username')).fill(server.admin.username);
  await page.locator(tid('login-password')).fill(server.admin.password);
  await page.locator(tid('login-submit')).click();
  await page.locator('.shell').waitFor();
  const openLi = async () => {
    await page.locator(tid('nav-people')).click();
    await page.locator(`${tid('people-table')} ${tid('row')}`).filter({ hasText: 'Li Hua' }).click();
    await page.locator(tid('person-quiet')).locator(tid('quiet-day')).first().waitFor();
  };
  await openLi();
  const sat = page.locator(`${tid('person-quiet')} ${tid('quiet-day')}[data-day="6"]`);
  await sat.locator(tid('quiet-day-on')).check();
  await sat.locator(tid('quiet-day-all')).check();
  await page.locator(tid('person-quiet-save')).click();
  await page.locator(tid('toast')).filter({ hasText: 'Quiet hours of Li Hua saved.' }).waitFor();
  const saved = await s.li.api.get('/api/v1/me/quiet-hours');
  assert.deepEqual(saved.quiet_hours.days[5], { from: '00:00', to: '00:00' }, 'Saturday all day');
  if (s.quietDay.weekday !== 6) assert.deepEqual(saved.quiet_hours.days[s.quietDay.weekday - 1], s.quietDay.span, 'the teacher\'s own day is kept');
  await page.locator(tid('person-quiet')).scrollIntoViewIfNeeded();
  await shot(page, 'admin-person-quiet-en');
  await page.goto('/admin?lang=zh-CN');
  await page.locator('.shell').waitFor();
  await openLi();
  await page.locator(tid('person-quiet')).getByText('免打扰时段').or(page.getByText('免打扰时段')).first().waitFor();
  assert.equal(await sat.locator(tid('quiet-day-all')).isChecked(), true);
  await page.locator(tid('person-quiet')).scrollIntoViewIfNeeded();
  await shot(page, 'admin-person-quiet-zh');
});

async function openSettings(p) {
  await p.locator(tid('nav-settings')).click();
  await p.locator('.view-inner[data-view="settings"]').waitFor();
  await p.waitForFunction(() => !document.querySelector('.view .loading'));
}

function toMin(hm) {
  const [h, m] = hm.split(':').map(Number);
  return h * 60 + m;
}

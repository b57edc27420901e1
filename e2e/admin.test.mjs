// Browser tests of the staff console (/admin) against the real server binary.
//
//   cd e2e && npm ci && node --test --test-concurrency=1 ./admin.test.mjs
//
// Desktop, 1440×900. The tests run in order on one server, like an administrator's first
// morning: sign in, import a class from CSV (a dry run first), build the timetable in the
// grid, pair a doorplate, print the class's QR badges, then look at every screen in
// English and Chinese. Screenshots (and the badge PDF) land in e2e/artifacts/admin-*.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { startServer, serverAvailable, schoolAdmin, client, BIN } from './lib/server.mjs';
import { launch, shot, until, ARTIFACTS } from './lib/browser.mjs';

const skip = serverAvailable() ? false : `server binary not found at ${BIN} (set DOORPLATE_BIN)`;
const DESKTOP = { width: 1440, height: 900 };
const VIEWS = ['people', 'classes', 'rooms', 'timetable', 'arrangements', 'notices', 'presence', 'audit', 'settings', 'import'];

let server;
let school;
let browser;
let page;
const s = {}; // what the tests create, shared in order

const tid = (id) => `[data-testid="${id}"]`;

async function signIn(p, username, password) {
  await p.locator(tid('login-username')).fill(username);
  await p.locator(tid('login-password')).fill(password);
  await p.locator(tid('login-submit')).click();
  await p.locator('.shell').waitFor();
}

/** Opens a section from the left navigation and waits until it has loaded. */
async function open(p, view) {
  await p.locator(tid(`nav-${view}`)).click();
  await p.locator(`.view-inner[data-view="${view}"]`).waitFor();
  await p.waitForFunction(() => !document.querySelector('.view .loading'));
}

async function importCsv(p, kind, csv) {
  await p.locator(`${tid('import-kind')} [data-value="${kind}"]`).click();
  await p.locator(tid('import-text')).fill(csv);
  await p.locator(tid('preview-row')).first().waitFor();
}

before(async () => {
  if (skip) return;
  server = await startServer();
  school = await schoolAdmin(server);
  s.teacher = await school.teacher('Zhao Min', { username: 'zhao.min', password: 'teach-me-1' });
  s.otherTeacher = await school.teacher('孙老师', { username: 'sun.laoshi', password: 'teach-me-2' });
  s.room = await school.room('Room 301');
  s.lab = await school.room('Chemistry lab', 'lab');
  s.dorm = await school.room('Dormitory 5', 'dorm');
  s.otherStudent = await school.student('Grace Xu');
  s.otherClass = await school.group('Class 8-4', [s.otherStudent.id], s.otherTeacher.id);
  browser = await launch({ baseURL: server.url, viewport: DESKTOP });
  page = await browser.newPage();
});

after(async () => {
  await browser?.close();
  await server?.cleanup();
});

test('signs in as the administrator', { skip }, async () => {
  await page.goto('/admin?lang=en');
  await page.locator(tid('login')).waitFor();
  await shot(page, 'admin-login-en');
  // A wrong password is a friendly sentence, not a code.
  await page.locator(tid('login-username')).fill('admin');
  await page.locator(tid('login-password')).fill('not-the-password');
  await page.locator(tid('login-submit')).click();
  await page.locator(tid('form-error')).filter({ hasText: /do not match/ }).waitFor();
  await signIn(page, server.admin.username, server.admin.password);
  for (const v of VIEWS) assert.equal(await page.locator(tid(`nav-${v}`)).count(), 1, `nav has ${v}`);
  await page.locator(tid('people-table')).waitFor();
  assert.match(await page.locator(tid('me')).innerText(), /Administrator/);
  // The console holds a bearer token: no session cookie a forged request could ride on.
  assert.deepEqual(await page.context().cookies(), [], 'no cookie is set');
});

test('imports a class from CSV: a dry run first, a bad line changes nothing', { skip }, async () => {
  await open(page, 'import');
  const good = [
    'role,display_name,username,password,card_uid',
    'student,Hana Lin,hana.lin,,04C0FFEE',
    'student,Ivan Qian,ivan.qian,first-day-2,',
    'student,许佳,xu.jia,,04C0FFEF',
    'guardian,Lily Lin,lily.lin,guard-pass-9,',
  ];
  const bad = [...good.slice(0, 3), 'pupil,Jack Ma,jack.ma,,', ...good.slice(3)];
  await importCsv(page, 'users', bad.join('\n'));
  assert.equal(await page.locator(tid('preview-row')).count(), 5);
  await page.locator(tid('import-check')).click();
  const error = page.locator(`${tid('import-error')}[data-line="4"]`);
  await error.waitFor();
  assert.match(await error.innerText(), /Line 4/);
  assert.match(await error.innerText(), /role/);
  await page.locator(`${tid('preview-error')}[data-line="4"]`).waitFor();
  assert.equal(await page.locator(tid('import-apply')).isVisible(), false, 'no import before a clean check');
  await shot(page, 'admin-import-errors-en');
  // All or nothing: not even the good lines were written.
  assert.deepEqual(await school.api.get('/api/v1/users?q=hana.lin'), []);

  // Fix the file: the check must be run again before the import is offered.
  await page.locator(tid('import-text')).fill(good.join('\n'));
  await page.locator(tid('import-errors')).waitFor({ state: 'detached' });
  await page.locator(tid('import-check')).click();
  await page.locator(tid('import-ready')).waitFor();
  assert.match(await page.locator(tid('import-ready')).innerText(), /4 to add/);
  assert.deepEqual(await school.api.get('/api/v1/users?q=hana.lin'), [], 'a dry run writes nothing');
  await shot(page, 'admin-import-ready-en');
  await page.locator(tid('import-apply')).click();
  await page.locator(tid('import-done')).waitFor();
  const hana = await school.api.get('/api/v1/users?q=hana.lin');
  assert.equal(hana.length, 1);
  assert.equal(hana[0].has_card, true);

  // The class, with its teacher and students, from a second file.
  await importCsv(page, 'groups', 'name,teacher_username,member_usernames\nClass 9-3,zhao.min,hana.lin;ivan.qian xu.jia\n');
  await page.locator(tid('import-check')).click();
  await page.locator(tid('import-ready')).waitFor();
  await page.locator(tid('import-apply')).click();
  await page.locator(tid('import-done')).waitFor();
  await shot(page, 'admin-import-done-en');
  const groups = await school.api.get('/api/v1/groups');
  s.group = groups.find((g) => g.name === 'Class 9-3');
  assert.ok(s.group, 'the class exists');
  assert.equal(s.group.member_ids.length, 3);
  assert.equal(s.group.teacher_id, s.teacher.id);
});

test('builds a timetable slot in the week grid', { skip }, async () => {
  await open(page, 'timetable');
  await page.locator(tid('tt-target')).selectOption(s.room.id);
  await page.waitForFunction((id) => location.hash.includes(`room=${id}`), s.room.id);
  await page.locator(tid('tt-grid')).waitFor();
  // Tuesday, 09:00: an empty cell opens the form there.
  await page.locator(`${tid('tt-cell')}[data-weekday="2"][data-time="09:00"]`).click();
  const form = page.locator(tid('slot-form'));
  await form.waitFor();
  assert.equal(await form.locator(tid('slot-weekday')).inputValue(), '2');
  assert.equal(await form.locator(tid('slot-start')).inputValue(), '09:00');
  await form.locator(tid('slot-title')).fill('Physics');
  await form.locator(tid('slot-group')).selectOption(s.group.id);
  assert.equal(await form.locator(tid('slot-teacher')).inputValue(), s.teacher.id, 'the class teacher by default');
  await shot(page, 'admin-timetable-form-en');
  await form.locator(tid('slot-submit')).click();
  await form.waitFor({ state: 'detached' });
  const slot = page.locator(`.tt-col[data-weekday="2"] ${tid('tt-slot')}`).filter({ hasText: 'Physics' });
  await slot.waitFor();
  assert.equal(await slot.getAttribute('data-conflict'), 'false');
  const slots = await school.api.get(`/api/v1/timetable?room_id=${s.room.id}`);
  assert.equal(slots.length, 1);
  assert.deepEqual([slots[0].weekday, slots[0].start, slots[0].end, slots[0].group_id], [2, '09:00', '09:45', s.group.id]);

  // Another class in the same room at an overlapping time: both are marked, where they are.
  // (The Physics block covers that cell, so "Add slot" and the time by hand.)
  await page.locator(tid('tt-add')).click();
  await form.waitFor();
  await form.locator(tid('slot-weekday')).selectOption('2');
  await form.locator(tid('slot-start')).fill('09:30');
  await form.locator(tid('slot-end')).fill('10:15');
  await form.locator(tid('slot-title')).fill('Music');
  await form.locator(tid('slot-group')).selectOption(s.otherClass.id);
  await form.locator(tid('slot-submit')).click();
  await form.waitFor({ state: 'detached' });
  await page.locator(`${tid('tt-slot')}[data-conflict="true"]`).nth(1).waitFor();
  await page.locator(tid('tt-conflicts')).waitFor();
  // A lesson on Monday morning for the screenshots.
  await page.locator(`${tid('tt-cell')}[data-weekday="1"][data-time="08:00"]`).click();
  await form.waitFor();
  await form.locator(tid('slot-title')).fill('Mathematics');
  await form.locator(tid('slot-group')).selectOption(s.group.id);
  await form.locator(tid('slot-submit')).click();
  await form.waitFor({ state: 'detached' });
  await page.locator(tid('tt-slot')).filter({ hasText: 'Mathematics' }).waitFor();
  await page.locator(tid('tt-slot')).filter({ hasText: 'Music' }).click();
  await page.locator(tid('slot-conflicts')).waitFor();
  await shot(page, 'admin-timetable-conflict-en');
});

test('pairs a doorplate with its one-time code', { skip }, async () => {
  await open(page, 'rooms');
  await page.locator(`${tid('rooms-table')} tr[data-key="${s.room.id}"]`).click();
  await page.locator(tid('room-detail')).waitFor();
  await page.locator(tid('plate-add')).click();
  await page.locator(tid('plate-name')).fill('Room 301 front door');
  await page.locator(tid('plate-submit')).click();
  const code = page.locator(tid('pairing-code'));
  await code.waitFor();
  const pairingCode = await code.getAttribute('data-code');
  assert.match(pairingCode, /^\d{8}$/);
  assert.match(await page.locator(tid('pairing-expiry')).innerText(), /left/);
  assert.match(await page.locator(tid('pairing-dialog')).innerText(), /\/kiosk/);
  await shot(page, 'admin-pairing-en');
  const plate = (await school.api.get('/api/v1/doorplates')).find((p) => p.name === 'Room 301 front door');
  assert.equal(plate.paired, false);
  await page.locator(`${tid('rooms-table')} ${tid('doorplate')}[data-doorplate-id="${plate.id}"][data-state="unpaired"]`).waitFor({ state: 'attached' });

  // The doorplate pairs through the API; the open dialog and the list see it.
  const { device_token: deviceToken } = await client(server.url).post('/api/v1/devices/pair', { pairing_code: pairingCode });
  await page.locator(`${tid('pairing-status')}.done`).waitFor();
  await page.locator(tid('pairing-done')).click();
  await page.locator(`${tid('rooms-table')} ${tid('doorplate')}[data-doorplate-id="${plate.id}"]:not([data-state="unpaired"])`).waitFor();

  // A kiosk running on that device token brings it online.
  const kiosk = await browser.context.newPage();
  await kiosk.goto('/kiosk');
  await kiosk.evaluate((token) => localStorage.setItem('doorplate.device_token', token), deviceToken);
  await kiosk.reload();
  await page.bringToFront(); // a background tab's timers are throttled
  await page.locator(`${tid('rooms-table')} ${tid('doorplate')}[data-doorplate-id="${plate.id}"][data-state="online"]`).waitFor({ timeout: 20_000 });
  await page.locator(`${tid('plate-card')}[data-doorplate-id="${plate.id}"][data-state="online"]`).waitFor();
  s.plate = plate;
  s.kiosk = kiosk;
  s.deviceToken = deviceToken;
  await shot(page, 'admin-rooms-paired-en');
});

test('prints QR badges for the class', { skip }, async () => {
  await open(page, 'classes');
  await page.locator(`${tid('classes-table')} tr[data-key="${s.group.id}"]`).click();
  await page.locator(tid('class-detail')).waitFor();
  await page.locator(tid('class-badges')).click();
  const confirm = page.locator(tid('confirm-dialog'));
  await confirm.waitFor();
  assert.match(await confirm.innerText(), /replaces/);
  // Keep what the sheet was issued, to prove a printed badge works at a door.
  let issued = null;
  const onResponse = async (res) => {
    if (res.request().method() === 'POST' && /\/api\/v1\/groups\/[^/]+\/badges$/.test(new URL(res.url()).pathname)) issued = await res.json();
  };
  browser.context.on('response', onResponse);
  const [sheet] = await Promise.all([browser.context.waitForEvent('page'), page.locator(tid('confirm-dialog-confirm')).click()]);
  await sheet.setViewportSize(DESKTOP);
  const cards = sheet.locator(tid('badge-card'));
  await until(async () => (await cards.count()) === 3, { message: 'three badge cards' });
  for (let i = 0; i < 3; i++) assert.equal(await cards.nth(i).locator('svg.qr').count(), 1, 'each card has its QR <svg>');
  const names = await cards.locator('.badge-name').allInnerTexts();
  assert.deepEqual([...names].sort(), ['Hana Lin', 'Ivan Qian', '许佳'].sort());
  assert.equal(await cards.first().locator('.badge-class').innerText(), 'Class 9-3');
  assert.equal(new URL(sheet.url()).searchParams.get('issue'), null, 'a reload does not issue again');
  await shot(sheet, 'admin-badges-en');
  await mkdir(ARTIFACTS, { recursive: true });
  const pdfPath = path.join(ARTIFACTS, 'admin-badges.pdf');
  await sheet.emulateMedia({ media: 'print' });
  await sheet.pdf({ path: pdfPath, format: 'A4', preferCSSPageSize: true, printBackground: true });
  const pdf = await readFile(pdfPath);
  assert.equal(pdf.subarray(0, 5).toString(), '%PDF-');
  assert.ok(pdf.length > 5000, 'the PDF has content');
  await sheet.close();
  await page.bringToFront();
  browser.context.off('response', onResponse);
  // A printed badge works: Hana checks in with it at the doorplate paired above.
  assert.equal(issued?.length, 3);
  const hana = issued.find((b) => b.display_name === 'Hana Lin');
  assert.match(hana.qr_svg, /<svg/);
  const device = client(server.url, s.deviceToken);
  const res = await device.post('/api/v1/doorplate/checkin', { credential: { qr: hana.qr_token } });
  assert.equal(res.user.display_name, 'Hana Lin');
  assert.equal((await school.api.get(`/api/v1/users/${hana.user_id}`)).user.has_badge, true);
});

test('a teacher sees only their own classes', { skip }, async () => {
  await page.locator(tid('logout')).click();
  await page.locator(tid('login')).waitFor();
  await signIn(page, 'zhao.min', 'teach-me-1');
  assert.equal(await page.locator(tid('nav-audit')).count(), 0);
  assert.equal(await page.locator(tid('nav-import')).count(), 0);
  await open(page, 'classes');
  await page.locator(tid('classes-table')).waitFor();
  const rows = await page.locator(`${tid('classes-table')} ${tid('row')}`).allInnerTexts();
  assert.equal(rows.length, 1);
  assert.match(rows[0], /Class 9-3/);
  await shot(page, 'admin-classes-teacher-en');
  await page.locator(tid('logout')).click();
  await signIn(page, server.admin.username, server.admin.password);
});

test('every screen, in English and in Chinese', { skip }, async () => {
  // A lived-in school: people present at the doorplate, a notice, an arrangement.
  const students = (await school.api.get('/api/v1/users?role=student')).filter((u) => ['Hana Lin', 'Ivan Qian', '许佳'].includes(u.display_name));
  await school.api.post('/api/v1/presence', { doorplate_id: s.plate.id, user_ids: students.map((u) => u.id) });
  await school.api.post('/api/v1/notices', { kind: 'announcement', title: 'Sports day on Friday', body: 'All classes meet on the field at 9:00. Bring water and a hat.' });
  await school.api.post('/api/v1/notices', { kind: 'honour', title: '数学竞赛一等奖', body: '祝贺 9-3 班许佳同学获得市数学竞赛一等奖！', room_ids: [s.room.id] });
  // More doorplates for the board: one paired at the lab, one still waiting at the dormitory.
  const lab = await school.doorplate(s.lab.id, 'Chemistry lab door');
  await client(server.url).post('/api/v1/devices/pair', { pairing_code: lab.pairing_code });
  await school.doorplate(s.dorm.id, 'Dormitory 5 entrance');

  // A dormitory night for tomorrow, arranged in the console: 21:00 to 07:00 on the school's clock.
  await open(page, 'arrangements');
  await page.locator(tid('arr-new')).click();
  const arr = page.locator(tid('arr-form'));
  await arr.waitFor();
  await arr.locator(tid('arr-f-kind')).selectOption('dorm');
  assert.equal(await arr.locator(tid('arr-f-start')).inputValue(), '21:00');
  await arr.locator(tid('arr-f-title')).fill('Dormitory night');
  await arr.locator(tid('arr-f-room')).selectOption(s.dorm.id);
  const { timezone } = await school.settings();
  const tomorrow = new Intl.DateTimeFormat('en-CA', { timeZone: timezone }).format(new Date(Date.now() + 86400_000));
  await arr.locator(tid('arr-f-date')).fill(tomorrow);
  await arr.locator(`[data-group-id="${s.group.id}"]`).check();
  await arr.locator(tid('arr-submit')).click();
  await arr.waitFor({ state: 'detached' });
  await page.locator(`${tid('arr-table')} ${tid('row')}`).filter({ hasText: 'Dormitory night' }).waitFor();
  const [made] = await school.api.get(`/api/v1/arrangements?room_id=${s.dorm.id}`);
  assert.deepEqual(made.group_ids, [s.group.id]);
  assert.equal(new Date(made.ends_at) - new Date(made.starts_at), 10 * 3600_000, 'overnight: 21:00 to 07:00');

  // The term and a holiday, in Settings.
  await open(page, 'settings');
  await page.locator(tid('set-term-start')).fill('2026-09-01');
  await page.locator(tid('set-term-end')).fill('2027-01-22');
  await page.locator(tid('set-holiday-new')).fill('2027-01-01');
  await page.locator(tid('set-holiday-add')).click();
  await page.locator(tid('set-holidays')).filter({ hasText: '2027' }).waitFor();
  await page.locator(tid('settings-save')).click();
  await until(async () => (await school.settings()).term_start === '2026-09-01', { message: 'the term saved' });
  const saved = await school.settings();
  assert.equal(saved.term_end, '2027-01-22');
  assert.deepEqual(saved.holidays, ['2027-01-01']);

  // A notice published from the console, for every doorplate.
  await open(page, 'notices');
  await page.locator(tid('notice-new')).click();
  const form = page.locator(tid('notice-form'));
  await form.locator(tid('notice-kind')).selectOption('showcase');
  await form.locator(tid('notice-title')).fill('Class 9-3 science posters');
  await form.locator(tid('notice-body')).fill('Posters about the solar system, in the hall all week.');
  await form.locator(tid('notice-submit')).click();
  await form.waitFor({ state: 'detached' });
  await page.locator(tid('notice-card')).filter({ hasText: 'Class 9-3 science posters' }).waitFor();
  const notices = await school.api.get('/api/v1/notices');
  assert.deepEqual(notices.find((n) => n.title === 'Class 9-3 science posters').room_ids, []);

  for (const [lang, suffix] of [['en', 'en'], ['zh-CN', 'zh']]) {
    await page.goto(`/admin?lang=${lang}#/people`);
    await page.locator('.shell').waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.lang), lang);
    for (const view of VIEWS) {
      await open(page, view);
      if (view === 'timetable') {
        await page.locator(tid('tt-target')).selectOption(s.room.id);
        await page.locator(tid('tt-slot')).first().waitFor();
      }
      if (view === 'presence') await page.locator(`${tid('presence-card')}[data-doorplate-id="${s.plate.id}"][data-count="3"]`).waitFor();
      if (view === 'people') await page.locator(tid('people-table')).waitFor();
      if (view === 'notices') await page.locator(tid('notice-card')).nth(1).waitFor();
      if (view === 'audit') await page.locator(tid('audit-row')).first().waitFor();
      if (view === 'settings') await page.locator(tid('settings')).waitFor();
      await shot(page, `admin-${view}-${suffix}`);
    }
  }
  // A detail panel, and the Chinese sign-in page.
  await open(page, 'people');
  await page.locator(`${tid('people-table')} ${tid('row')}`).filter({ hasText: 'Hana Lin' }).click();
  await page.locator(tid('person-detail')).waitFor();
  await page.locator(tid('links')).waitFor();
  // Link her guardian from the panel.
  await page.locator(tid('link-picker')).fill('Lily');
  await page.locator(tid('picker-item')).filter({ hasText: 'Lily Lin' }).click();
  await page.locator(`${tid('links')} ${tid('person-chip')}`).filter({ hasText: 'Lily Lin' }).waitFor();
  const hana = (await school.api.get('/api/v1/users?q=hana.lin'))[0];
  const links = await school.api.get(`/api/v1/users/${hana.id}/guardianships`);
  assert.deepEqual(links.guardians.map((g) => g.display_name), ['Lily Lin']);
  await shot(page, 'admin-person-zh');
  await page.locator(tid('logout')).click();
  await page.locator(tid('login')).waitFor();
  await shot(page, 'admin-login-zh');
  await s.kiosk?.close();
});

test('presence updates live when a student checks in at the door', { skip }, async () => {
  await page.goto('/admin?lang=en');
  await signIn(page, server.admin.username, server.admin.password);
  await open(page, 'presence');
  const card = page.locator(`${tid('presence-card')}[data-doorplate-id="${s.plate.id}"]`);
  await card.waitFor();
  const before = Number(await card.getAttribute('data-count'));
  // Grace taps her card at the doorplate (the device's API, as the kiosk does).
  await client(server.url, s.deviceToken).post('/api/v1/doorplate/checkin', { credential: { card: s.otherStudent.card_uid } });
  await page.locator(`${tid('presence-card')}[data-doorplate-id="${s.plate.id}"][data-count="${before + 1}"]`).waitFor();
  await card.locator(`${tid('presence-name')}[data-source="active"]`).filter({ hasText: 'Grace Xu' }).waitFor();
  await card.click();
  await page.locator(tid('presence-detail')).waitFor();
  await shot(page, 'admin-presence-live-en');
});


test('a doorplate where someone tries card after card is flagged for the school', { skip }, async () => {
  // Someone at the Room 404 door taps unknown cards, with their own valid card between
  // runs so the doorplate's lock never starts: the budget of wrong cards still runs out.
  const room = await school.room('Room 404');
  const made = await school.doorplate(room.id, 'Room 404 door');
  const { device_token: token } = await client(server.url).post('/api/v1/devices/pair', { pairing_code: made.pairing_code });
  const own = await school.student('Probe Owner');
  const device = client(server.url, token);
  let throttled = false;
  for (let round = 0; round < 10 && !throttled; round++) {
    for (let i = 0; i < 4 && !throttled; i++) {
      const res = await device.raw('POST', '/api/v1/doorplate/checkin', { credential: { card: `FF${round}${i}0000` } }, { expect: undefined }).catch((e) => e);
      throttled = res.status === 429;
    }
    await device.raw('POST', '/api/v1/doorplate/checkin', { credential: { card: own.card_uid } }).catch(() => {});
  }
  assert.ok(throttled, 'the wrong cards ran out of budget');
  for (const [lang, word] of [['en', /Card guessing/], ['zh-CN', /疑似试卡/]]) {
    await page.goto(`/admin?lang=${lang}#/rooms`);
    await page.locator('.shell').waitFor();
    await page.waitForFunction(() => !document.querySelector('.view .loading'));
    const flag = page.locator(`${tid('rooms-table')} ${tid('doorplate')}[data-doorplate-id="${made.doorplate.id}"] ${tid('plate-probed')}`);
    await flag.waitFor();
    assert.match(await flag.innerText(), word);
    await page.locator(`${tid('rooms-table')} tr[data-key="${room.id}"]`).click();
    await page.locator(tid('plate-probed-note')).waitFor();
    await shot(page, `admin-doorplate-probed-${lang === 'en' ? 'en' : 'zh'}`);
  }
  // Another doorplate is not flagged.
  assert.equal(await page.locator(`${tid('doorplate')}[data-doorplate-id="${s.plate.id}"] ${tid('plate-probed')}`).count(), 0);
});

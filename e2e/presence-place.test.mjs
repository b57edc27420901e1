// Browser tests of placing and dismissing students from the console's presence board
// (issue 17 item 11), the board's statistics adding up, and long names staying inside
// their cards (item 10).
//
//   cd e2e && node --test --test-concurrency=1 ./presence-place.test.mjs
//
// A teacher signs in, opens a doorplate's panel, places two students of their class here
// until a time, sees them on the board, and dismisses one. Screenshots land in
// e2e/artifacts/presence-place-*.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, serverAvailable, schoolAdmin, BIN, hhmm, dayOf } from './lib/server.mjs';
import { launch, shot, until } from './lib/browser.mjs';

const skip = serverAvailable() ? false : `server binary not found at ${BIN} (set DOORPLATE_BIN)`;
const DESKTOP = { width: 1440, height: 900 };
const tid = (id) => `[data-testid="${id}"]`;

let server;
let school;
let browser;
let page;
const s = {};

async function signIn(p, username, password) {
  await p.locator(tid('login-username')).fill(username);
  await p.locator(tid('login-password')).fill(password);
  await p.locator(tid('login-submit')).click();
  await p.locator('.shell').waitFor();
}

async function openPresence(p) {
  await p.locator(tid('nav-presence')).click();
  await p.locator('.view-inner[data-view="presence"]').waitFor();
  await p.locator(`${tid('presence-card')}[data-doorplate-id="${s.plate.id}"]`).waitFor();
}

/** Types part of a name in the placement picker and picks the one offered. */
async function pick(panel, query, name) {
  await panel.locator(tid('place-picker')).fill(query);
  await panel.locator(tid('picker-item')).filter({ hasText: name }).click();
  await panel.locator(`${tid('place-picked')} ${tid('person-chip')}`).filter({ hasText: name }).waitFor();
}

before(async () => {
  if (skip) return;
  server = await startServer();
  school = await schoolAdmin(server);
  s.teacher = await school.teacher('Wang Li', { username: 'wang.li', password: 'teach-me-1' });
  s.other = await school.teacher('孙老师', { username: 'sun.laoshi', password: 'teach-me-2' });
  s.a = await school.student('张小明');
  s.b = await school.student('Lucy Chen');
  s.c = await school.student('Maximilian-Alexander Featherstonehaugh-Worthington');
  s.outsider = await school.student('Olivia Outsider');
  s.klass = await school.group('Class 7-1', [s.a.id, s.b.id, s.c.id], s.teacher.id);
  s.otherClass = await school.group('Class 7-2', [s.outsider.id], s.other.id);
  s.room = await school.room('Room 204');
  s.lab = await school.room('Physics lab', 'lab');
  s.plate = (await school.doorplate(s.room.id, 'Front door')).doorplate;
  s.back = (await school.doorplate(s.room.id, 'Back door')).doorplate;
  s.labPlate = (await school.doorplate(s.lab.id, 'Lab door')).doorplate;
  s.tz = (await school.settings()).timezone || 'UTC';
  browser = await launch({ baseURL: server.url, viewport: DESKTOP });
  page = await browser.newPage();
});

after(async () => {
  await browser?.close();
  await server?.cleanup();
});

test('a teacher places two students of their class until a time, sees them live, dismisses one', { skip }, async () => {
  await page.goto('/admin?lang=en');
  await signIn(page, 'wang.li', 'teach-me-1');
  await openPresence(page);
  await page.locator(`${tid('presence-card')}[data-doorplate-id="${s.plate.id}"]`).click();
  const panel = page.locator(tid('presence-detail'));
  await panel.locator(tid('place-form')).waitFor();

  // Only the teacher's own classes are offered: a student of another class is not.
  await panel.locator(tid('place-picker')).fill('Olivia');
  await panel.locator('.picker-none').waitFor();
  assert.equal(await panel.locator(tid('picker-item')).count(), 0, 'a student of another class is not offered');

  await pick(panel, '张', '张小明');
  await pick(panel, 'Lucy', 'Lucy Chen');
  // Until a time today, on the school's clock (an hour and a half from now, inside today).
  const now = new Date();
  const later = new Date(now.getTime() + 90 * 60_000);
  const untilHm = dayOf(later, s.tz).date === dayOf(now, s.tz).date ? hhmm(later, s.tz) : '23:59';
  await panel.locator(tid('place-until-on')).check();
  await panel.locator(tid('place-until')).fill(untilHm);
  await panel.locator(tid('place-submit')).click();

  // On the board: both names on the card of the front door and of the back door (a room
  // with two doorplates shows its presences on both), placed by a teacher, without reload.
  for (const plate of [s.plate, s.back]) {
    const card = page.locator(`${tid('presence-card')}[data-doorplate-id="${plate.id}"][data-count="2"]`);
    await card.waitFor({ timeout: 20_000 });
    for (const name of ['张小明', 'Lucy Chen']) {
      await card.locator(`${tid('presence-name')}[data-source="teacher_now"]`).filter({ hasText: name }).waitFor();
    }
  }
  // The panel lists them with their end time, each with a dismiss button.
  const items = panel.locator(tid('presence-here-item'));
  await until(async () => (await items.count()) === 2, { message: 'two students in the panel' });
  for (const item of await items.all()) assert.match(await item.innerText(), new RegExp(untilHm), 'shows until when');
  // The server has the placement with its end.
  const rows = await school.api.get(`/api/v1/presence?doorplate_id=${s.plate.id}`);
  assert.deepEqual(rows.map((r) => r.user_id).sort(), [s.a.id, s.b.id].sort());
  assert.ok(rows.every((r) => r.source === 'teacher_now' && r.until), 'placed with an end');
  assert.equal(hhmm(new Date(rows[0].until), s.tz), untilHm);
  await shot(page, 'presence-place-placed-en');

  // Someone else places a student elsewhere: the board follows live.
  await school.api.post('/api/v1/presence', { doorplate_id: s.labPlate.id, user_ids: [s.c.id] });
  await page.locator(`${tid('presence-card')}[data-doorplate-id="${s.labPlate.id}"][data-count="1"]`).waitFor({ timeout: 20_000 });

  // Dismiss Lucy Chen (after a confirmation); 张小明 stays.
  await panel.locator(tid('presence-here-item')).filter({ hasText: 'Lucy Chen' }).locator(tid('presence-dismiss')).click();
  await page.locator(tid('confirm-dialog-confirm')).click();
  await page.locator(`${tid('presence-card')}[data-doorplate-id="${s.plate.id}"][data-count="1"]`).waitFor({ timeout: 20_000 });
  const card = page.locator(`${tid('presence-card')}[data-doorplate-id="${s.plate.id}"]`);
  assert.deepEqual(await card.locator(tid('presence-name')).allInnerTexts(), ['张小明']);
  await until(async () => (await panel.locator(tid('presence-here-item')).count()) === 1, { message: 'one left in the panel' });
  const left = await school.api.get(`/api/v1/presence?user_id=${s.b.id}`);
  assert.deepEqual(left, [], 'Lucy Chen is present nowhere');
  await shot(page, 'presence-place-dismissed-en');
});

test('the statistics add up: students once, presences per room, by source', { skip }, async () => {
  // 张小明 is in Room 204 (two doorplates) and, now, also at the lab by the same teacher.
  await school.api.post('/api/v1/presence', { doorplate_id: s.labPlate.id, user_ids: [s.a.id] });
  await page.locator(`${tid('presence-card')}[data-doorplate-id="${s.labPlate.id}"][data-count="2"]`).waitFor({ timeout: 20_000 });
  const num = async (id) => Number(await page.locator(`${tid(id)} .stat-value`).innerText());
  await until(async () => (await num('stat-places-total')) === 3, { message: 'three presences' });
  // Three presences (张小明 in two rooms, the long name in one) of two students; the two
  // doors of Room 204 count once.
  assert.equal(await num('stat-present'), 2);
  assert.equal(await num('stat-places-total'), (await num('stat-active')) + (await num('stat-timetable')) + (await num('stat-placed')));
  assert.equal(await num('stat-placed'), 3);
  await page.locator(tid('stat-note')).waitFor();
});

test('long names stay inside their cards, in English and Chinese', { skip }, async () => {
  for (const [lang, suffix] of [['en', 'en'], ['zh-CN', 'zh']]) {
    await page.goto(`/admin?lang=${lang}#/presence`);
    await page.locator('.view-inner[data-view="presence"]').waitFor();
    const card = page.locator(`${tid('presence-card')}[data-doorplate-id="${s.labPlate.id}"][data-count="2"]`);
    await card.waitFor({ timeout: 20_000 });
    const box = await card.boundingBox();
    for (const chip of await card.locator(tid('presence-name')).all()) {
      const b = await chip.boundingBox();
      assert.ok(b.x >= box.x && b.x + b.width <= box.x + box.width + 0.5, `${await chip.innerText()} stays inside its card (${lang})`);
    }
    await card.click();
    await page.locator(tid('place-form')).waitFor();
    await page.locator(tid('presence-here-item')).nth(1).waitFor();
    await shot(page, `presence-place-board-${suffix}`);
  }
});

test('People lists Chinese names in pinyin order, not by code point', { skip }, async () => {
  // Code-point order is 张 (U+5F20), 李 (U+674E), 王 (U+738B), 阿 (U+963F); pinyin order
  // is a, li, wang, zhang.
  for (const n of ['阿明', '李雷', '王芳']) await school.student(n);
  for (const [lang, suffix] of [['en', 'en'], ['zh-CN', 'zh']]) {
    await page.goto(`/admin?lang=${lang}#/people`);
    await page.locator('.shell').waitFor();
    await page.locator(`${tid('role-filter')} [data-value="student"]`).click();
    await page.locator(tid('people-table')).filter({ hasText: '王芳' }).waitFor();
    const names = await page.locator(`${tid('people-table')} ${tid('row')} .cell-person > div > span:first-child`).allInnerTexts();
    const han = names.filter((n) => /^[\u4e00-\u9fff]/.test(n));
    assert.deepEqual(han, ['阿明', '李雷', '王芳', '张小明'], `pinyin order (${lang})`);
    // The zh-CN collation puts Han names (by pinyin) before Latin ones (alphabetical).
    assert.deepEqual(names.filter((n) => !/^[\u4e00-\u9fff]/.test(n)), ['Lucy Chen', 'Maximilian-Alexander Featherstonehaugh-Worthington', 'Olivia Outsider']);
    assert.ok(names.indexOf('张小明') < names.indexOf('Lucy Chen'), `one order in both languages (${names.join(', ')})`);
    await shot(page, `presence-place-people-${suffix}`);
  }
});

test('the week grid: a 15-minute slot shows its whole title; a conflict names the slot it overlaps', { skip }, async () => {
  const api = school.api;
  await api.post('/api/v1/timetable', { room_id: s.room.id, weekday: 1, start: '08:00', end: '08:45', kind: 'lesson', title: 'Maths', group_id: s.klass.id, teacher_id: s.teacher.id });
  await api.post('/api/v1/timetable', { room_id: s.lab.id, weekday: 1, start: '12:00', end: '12:15', kind: 'activity', title: 'Morning reading', group_id: s.klass.id });
  const physics = (await api.post('/api/v1/timetable', { room_id: s.lab.id, weekday: 1, start: '09:00', end: '09:45', kind: 'lesson', title: 'Physics', group_id: s.klass.id })).slot;
  assert.deepEqual(physics.conflicts, []);
  // Sign the teacher out (on another address, so the next goto loads the console anew).
  await page.goto('/admin?lang=en&from=teacher');
  await page.evaluate(() => localStorage.removeItem('doorplate.console.token'));
  for (const [lang, suffix, monday] of [['en', 'en', 'Monday'], ['zh-CN', 'zh', '星期一']]) {
    await page.goto(`/admin?lang=${lang}#/timetable`);
    if (suffix === 'en') await signIn(page, server.admin.username, server.admin.password);
    await page.locator('.view-inner[data-view="timetable"]').waitFor();
    await page.locator(tid('tt-target')).selectOption(s.lab.id);
    const reading = page.locator(tid('tt-slot')).filter({ hasText: 'Morning reading' });
    await reading.waitFor();
    // In the week as it opens (five days, no panel), the 15-minute slot's title is whole:
    // it does not overflow its one line (the time gives way). In a narrower grid it is
    // cut with an ellipsis, and the tooltip and the panel carry it whole.
    const cut = await reading.locator('.tt-slot-title').evaluate((el) => el.scrollWidth > el.clientWidth);
    assert.equal(cut, false, `the 15-minute slot's title is not cut (${lang})`);
    await shot(page, `presence-place-week-${suffix}`);

    if (suffix === 'en') {
      // Move Physics onto Maths's time through the form: the notice names Maths, its
      // day, times and room (which is not in this grid).
      await page.locator(`${tid('tt-slot')}[data-slot-id="${physics.id}"]`).click();
      await page.locator(tid('slot-edit')).click();
      const form = page.locator(tid('slot-form'));
      await form.locator(tid('slot-start')).fill('08:30');
      await form.locator(tid('slot-end')).fill('09:15');
      await form.locator(tid('slot-submit')).click();
      await page.locator('.toast').filter({ hasText: 'Saved — but it overlaps Maths · Monday 08:00–08:45 · Room 204' }).waitFor();
      await shot(page, 'presence-place-conflict-toast-en');
    }
    await page.locator(`${tid('tt-slot')}[data-slot-id="${physics.id}"][data-conflict="true"]`).click();
    const listed = page.locator(`${tid('slot-conflicts')} ${tid('slot-conflict')}`);
    await listed.first().waitFor();
    assert.match(await listed.first().innerText(), new RegExp(`^Maths · ${monday} 08:00–08:45 · Room 204 · Class 7-1 · Wang Li$`));
    await shot(page, `presence-place-timetable-${suffix}`);
  }
});

test('one student\'s badge is printed from the person panel, after a warning', { skip }, async () => {
  for (const [lang, suffix, warn] of [['en', 'en', /old badge stops working/], ['zh-CN', 'zh', /旧胸牌将立即失效/]]) {
    await page.goto(`/admin?lang=${lang}#/people?id=${s.b.id}`);
    await page.locator('.shell').waitFor();
    await page.locator(tid('person-badge-print')).click();
    const confirm = page.locator(tid('confirm-dialog'));
    await confirm.waitFor();
    assert.match(await confirm.innerText(), warn, `warns that the old badge is void (${lang})`);
    await shot(page, `presence-place-badge-confirm-${suffix}`);
    let issued = null;
    const onResponse = async (res) => {
      if (res.request().method() === 'POST' && /\/api\/v1\/users\/[^/]+\/badge$/.test(new URL(res.url()).pathname)) issued = await res.json();
    };
    browser.context.on('response', onResponse);
    const [sheet] = await Promise.all([browser.context.waitForEvent('page'), page.locator(tid('confirm-dialog-confirm')).click()]);
    await sheet.setViewportSize(DESKTOP);
    const cards = sheet.locator(tid('badge-card'));
    await cards.first().waitFor();
    assert.equal(await cards.count(), 1, 'one badge');
    assert.equal(await sheet.evaluate(() => document.documentElement.lang), lang, 'the sheet speaks the console\'s language');
    assert.equal(await cards.first().getAttribute('data-user-id'), s.b.id);
    assert.equal(await cards.first().locator('.badge-name').innerText(), 'Lucy Chen');
    assert.equal(await cards.first().locator('.badge-class').innerText(), 'Class 7-1');
    assert.equal(await cards.first().locator('svg.qr').count(), 1, 'with its QR code');
    assert.equal(new URL(sheet.url()).searchParams.get('issue'), null, 'a reload does not issue again');
    await until(() => issued, { message: 'the issued badge' });
    assert.match(issued.qr_token, /^dpq_/);
    browser.context.off('response', onResponse);
    await shot(sheet, `presence-place-badge-sheet-${suffix}`);
    await sheet.close();
    await page.bringToFront();
  }
  // The classmates' badges were not touched: only Lucy's was issued (twice, once per language).
  const audit = await school.api.get('/api/v1/audit?limit=200').catch(() => null);
  if (Array.isArray(audit)) assert.equal(audit.filter((e) => e.action === 'group.badges').length, 0);
});

test('a teacher with no class is told why there is no one to place', { skip }, async () => {
  await school.teacher('Zhou Kong', { username: 'zhou.kong', password: 'teach-me-3' });
  await page.goto('/admin?lang=en&from=admin');
  await page.evaluate(() => localStorage.removeItem('doorplate.console.token'));
  await page.goto('/admin?lang=en#/presence');
  await signIn(page, 'zhou.kong', 'teach-me-3');
  await openPresence(page);
  await page.locator(`${tid('presence-card')}[data-doorplate-id="${s.plate.id}"]`).click();
  await page.locator(tid('place-hint')).filter({ hasText: 'You teach no class' }).waitFor();
  // Nor may they dismiss: no one here is a student of theirs.
  await page.locator(tid('presence-here-item')).first().waitFor();
  assert.equal(await page.locator(tid('presence-dismiss')).count(), 0);
});

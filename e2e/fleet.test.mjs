// Issue 17, items 14 and 15, in the browser against the real server binary.
//
// The doorplates as a fleet: the console's rooms page flags a screen that should be
// online but has been offline for ten minutes (counted in the header), shows the kiosk
// build each screen runs, and an admin identifies (the kiosk flashes its name), reloads,
// renames, moves, unpairs and deletes doorplates; the kiosk follows each. And the
// school's notices in the family app: a notice the console addresses to a class reaches
// that class's families, newest first, with the school-wide ones. Screenshots in English
// and Chinese land in e2e/artifacts/fleet-*.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { startServer, serverAvailable, schoolAdmin, client, login, BIN } from './lib/server.mjs';
import { launch, shot, until } from './lib/browser.mjs';

const skip = serverAvailable() ? false : `server binary not found at ${BIN} (set DOORPLATE_BIN)`;
const DESKTOP = { width: 1440, height: 900 };
const KIOSK = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

let server;
let school;
let browser;
let page;
let kiosk;
const s = {};

const tid = (id) => `[data-testid="${id}"]`;
const card = (p, plate) => p.locator(`${tid('plate-card')}[data-doorplate-id="${plate.id}"]`);

async function pairDevice(roomId, name) {
  const created = await school.doorplate(roomId, name);
  const paired = await client(server.url).post('/api/v1/devices/pair', { pairing_code: created.pairing_code });
  return { ...paired.doorplate, token: paired.device_token };
}

async function signIn(p) {
  await p.locator(tid('login-username')).fill(server.admin.username);
  await p.locator(tid('login-password')).fill(server.admin.password);
  await p.locator(tid('login-submit')).click();
  await p.locator('.shell').waitFor();
}

/** The rooms page with Room 301's detail panel open. */
async function openRoom(p, lang, room) {
  await p.goto(`/admin?lang=${lang}#/rooms`);
  await p.locator(`${tid('rooms-table')} tr[data-key="${room.id}"]`).click();
  await p.locator(tid('room-detail')).waitFor();
}

before(async () => {
  if (skip) return;
  server = await startServer();
  school = await schoolAdmin(server);
  s.teacher = await school.teacher('Li Hua');
  s.amy = await school.student('Amy Chen');
  s.ben = await school.student('Ben Wu');
  s.mum = await school.guardian('Mei Chen');
  await school.link(s.mum.id, s.amy.id);
  s.room = await school.room('Room 301');
  s.lab = await school.room('Chemistry lab', 'lab');
  s.dorm = await school.room('Dormitory 5', 'dorm');
  s.class72 = await school.group('Class 7-2', [s.amy.id], s.teacher.id);
  s.class73 = await school.group('Class 7-3', [s.ben.id], s.teacher.id);
  s.front = await pairDevice(s.room.id, 'Room 301 front');
  s.back = await pairDevice(s.room.id, 'Room 301 back');
  s.dormPlate = await pairDevice(s.dorm.id, 'Dormitory 5 door');

  // The dormitory's screen lost power eleven minutes ago and the server restarted since:
  // it was paired and seen, and nothing of it has come back.
  await server.stop();
  const tenMinutesAndMore = (Date.now() - 11 * 60_000) * 1000;
  await promisify(execFile)('sqlite3', [path.join(server.dataDir, 'doorplate.db'),
    `UPDATE doorplates SET last_seen = ${tenMinutesAndMore} WHERE id = ${Number(s.dormPlate.id)}`]);
  await server.start();

  browser = await launch({ baseURL: server.url, viewport: DESKTOP });
  page = await browser.newPage(DESKTOP);
  kiosk = await browser.context.newPage();
  await kiosk.setViewportSize(KIOSK);
  kiosk.on('pageerror', (err) => console.error('[kiosk error]', err.message));
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.cleanup();
});

test('the console flags a doorplate offline for ten minutes and shows the build each kiosk runs', { skip }, async () => {
  // The front door's kiosk is on.
  await kiosk.goto('/kiosk?lang=en');
  await kiosk.evaluate((token) => localStorage.setItem('doorplate.device_token', token), s.front.token);
  await kiosk.reload();
  await kiosk.locator(tid('room-name')).filter({ hasText: 'Room 301' }).waitFor();
  const build = (await client(server.url, s.front.token).get('/api/v1/doorplate/state')).kiosk_build;
  assert.match(build, /^[0-9a-f]{12}$/);

  await page.goto('/admin?lang=en');
  await signIn(page);
  await openRoom(page, 'en', s.room);
  await page.bringToFront();
  // The header counts the one screen that should be online and is not.
  const badge = page.locator(`${tid('rooms-offline-alerts')}[data-count="1"]`);
  await badge.waitFor();
  assert.match(await badge.innerText(), /1 doorplate offline too long/);
  await page.locator(`${tid('rooms-table')} tr[data-key="${s.dorm.id}"] ${tid('plate-offline-alert')}`).waitFor();
  // The back door was paired but its screen is not on: offline, yet not for ten minutes.
  assert.equal(await page.locator(`${tid('rooms-table')} tr[data-key="${s.room.id}"] ${tid('plate-offline-alert')}`).count(), 0);
  // The front door runs the build the server serves.
  const front = card(page, s.front);
  await front.locator(`${tid('plate-version')}[data-version="${build}"]`).waitFor({ timeout: 20_000 });
  await card(page, s.front).and(page.locator('[data-state="online"]')).waitFor();
  await shot(page, 'fleet-rooms-en');

  await page.goto(`/admin?lang=zh-CN#/rooms`);
  await page.locator(`${tid('rooms-offline-alerts')}[data-count="1"]`).filter({ hasText: '1 块门牌离线过久' }).waitFor();
  await page.locator(`${tid('rooms-table')} tr[data-key="${s.dorm.id}"]`).click();
  await page.locator(tid('plate-offline-note')).filter({ hasText: '本应在线' }).waitFor();
  await shot(page, 'fleet-rooms-offline-zh');
  await openRoom(page, 'zh-CN', s.room);
  await card(page, s.front).locator(tid('plate-version')).filter({ hasText: `门牌页面版本 ${build}` }).waitFor();
  await shot(page, 'fleet-rooms-zh');
});

test('"Identify" flashes the kiosk with its name, and "Reload" reloads its page', { skip }, async () => {
  await openRoom(page, 'en', s.room);
  await card(page, s.front).locator(tid('plate-identify')).click();
  await kiosk.bringToFront();
  const flash = kiosk.locator(tid('identify'));
  await flash.waitFor();
  assert.equal(await flash.locator(tid('identify-name')).innerText(), 'Room 301 front');
  assert.match(await flash.innerText(), /This doorplate is/);
  assert.match(await flash.innerText(), /Room 301/);
  await shot(kiosk, 'fleet-identify-en');
  // It goes by itself after a few seconds.
  await flash.waitFor({ state: 'detached', timeout: 15_000 });

  // In Chinese.
  await kiosk.goto('/kiosk?lang=zh-CN');
  await kiosk.locator(tid('room-name')).filter({ hasText: 'Room 301' }).waitFor();
  await kiosk.locator(`${tid('conn')}[data-state="connected"]`).waitFor({ state: 'attached', timeout: 20_000 });
  await until(async () => (await school.api.get('/api/v1/doorplates')).find((p) => p.id === s.front.id)?.online, { message: 'the kiosk online' });
  await school.api.post(`/api/v1/doorplates/${s.front.id}/command`, { command: 'identify' });
  await kiosk.locator(tid('identify')).filter({ hasText: '这块门牌是' }).waitFor();
  await shot(kiosk, 'fleet-identify-zh');
  await kiosk.locator(tid('identify')).waitFor({ state: 'detached', timeout: 15_000 });

  // Reload: the page loads again (a mark left on the old page is gone) and comes back.
  await kiosk.evaluate(() => { window.beforeReload = true; });
  await page.bringToFront();
  await card(page, s.front).locator(tid('plate-reload')).click();
  await page.locator('.toast').filter({ hasText: 'Room 301 front' }).waitFor();
  await until(async () => (await kiosk.evaluate(() => window.beforeReload !== true).catch(() => false)), { message: 'the kiosk reloaded' });
  await kiosk.locator(tid('room-name')).filter({ hasText: 'Room 301' }).waitFor();
});

test('an admin renames, moves, unpairs and deletes doorplates; the kiosk follows', { skip }, async () => {
  await openRoom(page, 'en', s.room);
  await card(page, s.front).locator(tid('plate-rename')).click();
  await page.locator(tid('plate-rename-name')).fill('Front door');
  await page.locator(tid('plate-rename-submit')).click();
  await card(page, s.front).filter({ hasText: 'Front door' }).waitFor();

  // Moved to the lab: the kiosk shows the lab at once.
  await card(page, s.front).locator(tid('plate-move')).click();
  await page.locator(tid('plate-move-room')).selectOption(s.lab.id);
  await shot(page, 'fleet-move-en');
  await page.locator(tid('plate-move-submit')).click();
  await page.locator('.toast').filter({ hasText: '“Front door” is now in Chemistry lab.' }).waitFor();
  await kiosk.locator(tid('room-name')).filter({ hasText: 'Chemistry lab' }).waitFor();
  const moved = (await school.api.get('/api/v1/doorplates')).find((p) => p.id === s.front.id);
  assert.equal(moved.room_id, s.lab.id);

  // Unpaired: the kiosk asks for a pairing code again, saying why.
  await openRoom(page, 'en', s.lab);
  await card(page, s.front).locator(tid('plate-unpair')).click();
  await page.locator(tid('plate-unpair-confirm-confirm')).click();
  await kiosk.locator(tid('pairing')).waitFor();
  assert.match(await kiosk.locator(tid('pair-error')).innerText(), /no longer paired|解除配对/);
  await card(page, s.front).and(page.locator('[data-state="unpaired"]')).waitFor();
  await shot(kiosk, 'fleet-unpaired-kiosk-zh');

  // Deleted: the back door goes from the list; its token no longer works.
  await openRoom(page, 'en', s.room);
  await card(page, s.back).locator(tid('plate-delete')).click();
  await shot(page, 'fleet-delete-en');
  await page.locator(tid('plate-delete-confirm-confirm')).click();
  await card(page, s.back).waitFor({ state: 'detached' });
  await assert.rejects(client(server.url, s.back.token).get('/api/v1/doorplate/state'), (err) => err.status === 401);
  await openRoom(page, 'zh-CN', s.dorm);
  await card(page, s.dormPlate).locator(tid('plate-delete')).click();
  await page.locator(tid('plate-delete-confirm')).filter({ hasText: '删除“Dormitory 5 door”？' }).waitFor();
  await shot(page, 'fleet-delete-zh');
  await page.locator(tid('plate-delete-confirm-cancel')).click();
});

test('a notice the console addresses to a class reaches its families, newest first, with the school-wide ones', { skip }, async () => {
  // Already there: one for the whole school, one for another class, one for a room's doorplates.
  await school.api.post('/api/v1/notices', { kind: 'announcement', title: 'School closed on Friday', body: 'Teachers’ training day. The canteen is closed too.' });
  await school.api.post('/api/v1/notices', { title: 'Class 7-3 museum trip', group_ids: [s.class73.id] });
  await school.api.post('/api/v1/notices', { title: 'Lab coats on', room_ids: [s.lab.id] });

  // The console writes one for Class 7-2's families.
  await page.goto('/admin?lang=en#/notices');
  await page.locator(tid('notice-new')).click();
  const form = page.locator(tid('notice-form'));
  await form.locator(tid('notice-title')).fill('Sports day on Wednesday');
  await form.locator(tid('notice-body')).fill('Bring trainers and a water bottle. Parents are welcome from 14:00.');
  await form.locator(tid('notice-audience')).selectOption('classes');
  await form.locator(`${tid('notice-classes')} [data-group-id="${s.class72.id}"]`).check();
  assert.match(await form.locator(tid('notice-audience-hint')).innerText(), /families of these classes/);
  await shot(page, 'fleet-notice-form-en');
  await form.locator(tid('notice-submit')).click();
  await page.locator(tid('notice-card')).filter({ hasText: 'Sports day on Wednesday' }).filter({ hasText: 'Families of Class 7-2' }).waitFor();
  await page.goto('/admin?lang=zh-CN#/notices');
  await page.locator(tid('notice-card')).filter({ hasText: 'Class 7-2 的家长' }).waitFor();
  await page.locator(tid('notice-new')).click();
  await page.locator(tid('notice-audience')).selectOption('classes');
  await shot(page, 'fleet-notice-form-zh');

  // Amy's mum sees hers and the school's, newest first; not 7-3's, not the lab's.
  const phone = await launch({ baseURL: server.url, viewport: PHONE });
  try {
    const app = await phone.newPage(PHONE);
    for (const [lang, suffix, whole] of [['en', 'en', 'Whole school'], ['zh-CN', 'zh', '全校']]) {
      await app.goto(`/app?lang=${lang}`);
      if (suffix === 'en') {
        await app.locator(tid('login-username')).fill(s.mum.username);
        await app.locator(tid('login-password')).fill(s.mum.password);
        await app.locator(tid('login-submit')).click();
      }
      await app.locator(tid('home')).waitFor();
      const feed = app.locator(`${tid('notice-feed')} ${tid('feed-notice')}`);
      await until(async () => (await feed.count()) === 2, { message: 'two notices on the home screen' });
      assert.deepEqual(await app.locator(`${tid('notice-feed')} ${tid('feed-title')}`).allInnerTexts(), ['Sports day on Wednesday', 'School closed on Friday']);
      assert.deepEqual(await app.locator(`${tid('notice-feed')} ${tid('feed-for')}`).allInnerTexts(), ['Class 7-2', whole]);
      const text = await app.locator('body').innerText();
      assert.ok(!text.includes('museum') && !text.includes('Lab coats'), 'another class’s and a room’s notices stay away');
      await shot(app, `fleet-family-notices-${suffix}`);
    }
  } finally {
    await phone.close();
  }
  // The same answer from the API, for the record.
  const mum = await login(server.url, s.mum.username, s.mum.password);
  assert.deepEqual((await mum.api.get('/api/v1/notices/feed')).map((n) => n.title), ['Sports day on Wednesday', 'School closed on Friday']);
});

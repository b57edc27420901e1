// Many schools on one server, in the browser: a second school, `north`, is added through
// the CLI while the server runs, and its three faces at /s/north/ are used like the root
// school's. The root school is given a student with the same card number and a guardian
// with the same username (another password and name), so a face talking to the wrong
// school would show the wrong person or log in where it must not.
//
//   cd /work/main && DOORPLATE_BIN=target/debug/doorplate node --test e2e/schools.test.mjs
//
// The tests run in order and share one server, one north kiosk and one phone. Every
// request a north page makes is recorded: none may fail, and none may go to the root
// school's API. Screenshots land in e2e/artifacts/schools-* (and, when SCHOOLS_SHOTS
// names a folder, the family app's are copied there too).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { startServer, serverAvailable, schoolAdmin, client, BIN } from './lib/server.mjs';
import { launch, shot, until, LANDSCAPE } from './lib/browser.mjs';
import { swipe } from './lib/kiosk.mjs';

const skip = serverAvailable() ? false : `server binary not found at ${BIN} (set DOORPLATE_BIN)`;
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1440, height: 900 };
const SLUG = 'north';
const BASE = `/s/${SLUG}`;
const SHARED_CARD = '04AB5C00DE';
const SHARED_GUARDIAN = 'same.parent';
const MESSAGE = 'North: the bus leaves at four';

let server;
let kioskBrowser;
let kiosk;
let phoneBrowser;
let phone;
const root = {}; // the root school's people
const north = {}; // north's people
const watched = []; // every page whose requests are recorded

const tid = (id) => `[data-testid="${id}"]`;
const tile = (userId) => kiosk.locator(`${tid('tile')}[data-user-id="${userId}"]`);

/** Runs the server binary's CLI (`doorplate --data DIR …`) and resolves with its output. */
function cli(args, input = '') {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, ['--data', server.dataDir, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`doorplate ${args.join(' ')} exited ${code}:\n${out}`))));
    child.stdin.end(input);
  });
}

/**
 * Records what a page asks of the server: failed requests, answers of 400 and above,
 * console errors and page errors, and every API or socket URL it used.
 */
function watch(page, name) {
  const w = { name, page, failed: [], bad: [], errors: [], apiPaths: [], on: true };
  page.on('requestfailed', (req) => {
    // A navigation away cancels what was in flight; that is not a failure of the face.
    if (w.on && req.failure()?.errorText !== 'net::ERR_ABORTED') w.failed.push(`${req.method()} ${req.url()} (${req.failure()?.errorText})`);
  });
  page.on('response', (res) => { if (w.on && res.status() >= 400) w.bad.push(`${res.request().method()} ${res.url()} → ${res.status()}`); });
  page.on('console', (msg) => { if (w.on && msg.type() === 'error') w.errors.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => { if (w.on) w.errors.push(`page error: ${err.message}`); });
  const noteUrl = (url) => {
    const p = new URL(url).pathname;
    if (w.on && (p.includes('/api/') || p.includes('/ws'))) w.apiPaths.push(p);
  };
  page.on('request', (req) => noteUrl(req.url()));
  page.on('websocket', (ws) => noteUrl(ws.url()));
  watched.push(w);
  return w;
}

/** A north face used nothing of the root school and nothing failed. */
function assertClean(w) {
  const wrong = w.apiPaths.filter((p) => !p.startsWith(`${BASE}/`));
  assert.deepEqual(wrong, [], `${w.name}: requests that went to another school than ${SLUG}`);
  assert.deepEqual(w.failed, [], `${w.name}: failed requests`);
  assert.deepEqual(w.bad, [], `${w.name}: error answers`);
  assert.deepEqual(w.errors, [], `${w.name}: console or page errors`);
}

/** Saves a screenshot in e2e/artifacts and, when SCHOOLS_SHOTS is set, a copy there. */
async function keepShot(page, name) {
  const file = await shot(page, name);
  const dir = process.env.SCHOOLS_SHOTS;
  if (dir) {
    await mkdir(dir, { recursive: true });
    await copyFile(file, path.join(dir, path.basename(file)));
  }
  return file;
}

before(async () => {
  if (skip) return;
  server = await startServer();

  // The root school: a student with the card north's student also has, and a guardian
  // with north's guardian's username but another password.
  const main = await schoolAdmin(server);
  root.teacher = await main.teacher('Rolf Root');
  root.student = await main.student('Rita Root', { card: SHARED_CARD });
  root.guardian = await main.guardian('Rosa Root', { username: SHARED_GUARDIAN, password: 'root-only-pass-1' });
  await main.link(root.guardian.id, root.student.id);
  root.room = await main.room('Root Room 1');
  await main.group('Root Class', [root.student.id], root.teacher.id);
  root.plate = await main.doorplate(root.room.id, 'Root Room 1 door');

  // North, added while the server runs, with its first admin.
  const created = await cli(['school', 'create', '--slug', SLUG, '--name', 'North School', '--timezone', 'Asia/Shanghai']);
  assert.match(created, new RegExp(`/s/${SLUG}/`));
  north.admin = { username: 'north.admin', password: 'north-admin-pass-1' };
  await cli(['admin', 'create', '--school', SLUG, '--username', north.admin.username, '--password-stdin'], `${north.admin.password}\n`);
  // The running server picks the new school up within a couple of seconds: poll for it.
  await until(async () => (await fetch(`${server.url}${BASE}/app`)).status === 200,
    { timeout: 20_000, interval: 200, message: `the server to host ${BASE}/` });

  const school = await schoolAdmin({ url: server.url + BASE, admin: north.admin });
  north.teacher = await school.teacher('Nils North');
  north.student = await school.student('Nora North', { card: SHARED_CARD });
  north.guardian = await school.guardian('Nadia North', { username: SHARED_GUARDIAN, password: 'north-only-pass-1' });
  await school.link(north.guardian.id, north.student.id);
  north.room = await school.room('North Hall 7');
  await school.group('North Class', [north.student.id], north.teacher.id);
  north.plate = await school.doorplate(north.room.id, 'North Hall 7 door');

  kioskBrowser = await launch({ baseURL: server.url, viewport: LANDSCAPE });
  kiosk = await kioskBrowser.newPage(LANDSCAPE);
  phoneBrowser = await launch({ baseURL: server.url, viewport: PHONE });
  phone = await phoneBrowser.newPage(PHONE);
});

after(async () => {
  await kioskBrowser?.close();
  await phoneBrowser?.close();
  await server?.cleanup();
});

test('the kiosk at /s/north/kiosk pairs with a north code, keeps its token under north, and names north\'s student', { skip }, async () => {
  const w = watch(kiosk, 'north kiosk');
  await kiosk.goto(`${BASE}/kiosk?lang=en`);
  await kiosk.locator(tid('pairing')).waitFor();

  // The root school's code means nothing here.
  await kiosk.locator(tid('pair-code')).fill(root.plate.pairing_code);
  await kiosk.locator(tid('pair-submit')).click();
  await kiosk.locator(tid('pair-error')).filter({ hasText: 'not valid' }).waitFor();
  // That refusal is the one error answer this page is meant to get.
  const refused = w.bad.findIndex((b) => b.startsWith(`POST ${server.url}${BASE}/api/v1/devices/pair → 4`));
  assert.ok(refused >= 0, `the refused code was asked of north's API: ${w.bad.join('; ')}`);
  w.bad.splice(refused, 1);
  await until(() => w.errors.some((e) => e.includes('status of 401')), { message: 'the browser\'s note of the refused code' });
  w.errors.splice(w.errors.findIndex((e) => e.includes('status of 401')), 1);

  await kiosk.locator(tid('pair-code')).fill(north.plate.pairing_code);
  await kiosk.locator(tid('pair-submit')).click();
  await kiosk.locator(tid('room-name')).filter({ hasText: 'North Hall 7' }).waitFor();
  await kiosk.locator(tid('conn')).and(kiosk.locator('[data-state="connected"]')).waitFor({ state: 'attached' });

  const keys = await kiosk.evaluate(() => ({
    north: localStorage.getItem('doorplate.device_token@north'),
    root: localStorage.getItem('doorplate.device_token'),
  }));
  assert.ok(keys.north, 'the device token is kept under doorplate.device_token@north');
  assert.equal(keys.root, null, 'the root school\'s key stays empty');

  // The card both schools know: north's student checks in, by north's name.
  await kiosk.locator(tid('btn-checkin')).click();
  await kiosk.locator(tid('proof-sheet')).waitFor();
  await swipe(kiosk, SHARED_CARD);
  await kiosk.locator(tid('toast')).filter({ hasText: 'Nora North' }).waitFor();
  await tile(north.student.id).filter({ hasText: 'Nora North' }).waitFor();
  const text = await kiosk.locator('body').innerText();
  assert.ok(!text.includes('Rita Root'), 'the root school\'s student is not shown');
  await keepShot(kiosk, 'schools-north-kiosk-en');
  assertClean(w);
});

test('the family app at /s/north/app: north\'s guardian logs in, writes, the north kiosk hints; the same login at /app is refused', { skip }, async () => {
  const w = watch(phone, 'north family app');
  await phone.goto(`${BASE}/app?lang=en`);
  await phone.locator(tid('login-username')).fill(north.guardian.username);
  await phone.locator(tid('login-password')).fill(north.guardian.password);
  await phone.locator(tid('login-submit')).click();
  await phone.locator(tid('home')).waitFor();
  await phone.locator('body[data-live="connected"]').waitFor({ state: 'attached' });
  const card = phone.locator(tid('child-card'));
  await card.filter({ hasText: 'Nora North' }).waitFor();
  await card.locator(tid('child-where')).filter({ hasText: /North Hall 7|At school/ }).waitFor();
  assert.ok(!(await phone.locator('body').innerText()).includes('Rita Root'), 'no root school child');
  const session = await phone.evaluate(() => ({
    north: JSON.parse(localStorage.getItem('doorplate.app.session@north')),
    root: localStorage.getItem('doorplate.app.session'),
  }));
  assert.equal(session.north?.user?.display_name, 'Nadia North', 'the sign-in is kept under north\'s key');
  assert.equal(session.root, null, 'the root school\'s key stays empty');
  await keepShot(phone, 'schools-north-app-home-en');

  // The same screen in Chinese, from the account menu.
  await phone.locator(tid('menu')).click();
  await phone.locator(tid('lang-zh-CN')).click();
  await phone.locator('html[lang="zh-CN"]').waitFor({ state: 'attached' });
  await phone.keyboard.press('Escape');
  await phone.locator(tid('menu-sheet')).waitFor({ state: 'detached' });
  await card.filter({ hasText: 'Nora North' }).waitFor();
  await phone.locator(tid('child-write')).filter({ hasText: /\p{Script=Han}/u }).waitFor();
  await keepShot(phone, 'schools-north-app-home-zh');
  await phone.locator(tid('menu')).click();
  await phone.locator(tid('lang-en')).click();
  await phone.locator('html[lang="en"]').waitFor({ state: 'attached' });
  await phone.keyboard.press('Escape');
  await phone.locator(tid('menu-sheet')).waitFor({ state: 'detached' });

  // She writes to Nora; the north kiosk shows the hint on Nora's tile.
  await card.locator(tid('child-write')).click();
  await phone.locator(tid('thread-name')).filter({ hasText: 'Nora North' }).waitFor();
  await phone.locator(tid('composer-input')).fill(MESSAGE);
  await phone.locator(tid('btn-send')).click();
  const bubble = phone.locator(tid('msg')).filter({ has: phone.locator(tid('msg-text')).filter({ hasText: MESSAGE }) });
  await bubble.locator(tid('msg-status')).filter({ hasText: /Shown/ }).waitFor();
  await tile(north.student.id).locator(tid('badge')).filter({ hasText: /^1$/ }).waitFor();
  assert.ok(!(await kiosk.locator('body').innerText()).includes('bus leaves'), 'no message text on the kiosk');
  await keepShot(phone, 'schools-north-app-thread-en');
  await keepShot(kiosk, 'schools-north-kiosk-hint-en');
  assertClean(w);
  w.on = false;

  // The root school's app, in the same browser: not signed in, and north's password
  // does not open the root school's account of the same name.
  await phone.goto('/app?lang=en');
  await phone.locator(tid('login-username')).fill(north.guardian.username);
  await phone.locator(tid('login-password')).fill(north.guardian.password);
  await phone.locator(tid('login-submit')).click();
  await phone.locator(tid('login-error')).filter({ hasText: 'username or password is not right' }).waitFor();
  assert.equal(await phone.locator(tid('home')).count(), 0, 'not logged in at the root school');
  assert.equal(await phone.evaluate(() => localStorage.getItem('doorplate.app.session')), null);
  // Whereas the root school's own password does log in there, as the root school's guardian.
  const rootLogin = await client(server.url).post('/api/v1/auth/login', { username: SHARED_GUARDIAN, password: root.guardian.password });
  assert.equal(rootLogin.user.display_name, 'Rosa Root');
});

test('the family app installed from /s/north/app opens north (its manifest\'s start_url and scope)', { skip }, async () => {
  await phone.goto(`${BASE}/app?lang=en`);
  await phone.locator(tid('home')).waitFor();
  const href = await phone.locator('link[rel="manifest"]').evaluate((el) => el.href);
  const manifest = await (await fetch(href)).json();
  const startUrl = new URL(manifest.start_url, href).pathname;
  const scope = new URL(manifest.scope, href).pathname;
  assert.ok(startUrl.startsWith(`${BASE}/app`), `the installed app starts at ${startUrl} (manifest ${href}), not under ${BASE}/app`);
  assert.ok(scope.startsWith(`${BASE}/app`), `the installed app's scope is ${scope} (manifest ${href}), not under ${BASE}/app`);
});

test('the console at /s/north/admin signs in with north\'s admin and lists north\'s people only', { skip }, async () => {
  const consoleBrowser = await launch({ baseURL: server.url, viewport: DESKTOP });
  try {
    const page = await consoleBrowser.newPage(DESKTOP);
    const w = watch(page, 'north console');
    await page.goto(`${BASE}/admin?lang=en`);
    await page.locator(tid('login')).waitFor();
    await page.locator(tid('login-username')).fill(north.admin.username);
    await page.locator(tid('login-password')).fill(north.admin.password);
    await page.locator(tid('login-submit')).click();
    await page.locator('.shell').waitFor();
    const table = page.locator(tid('people-table'));
    await table.filter({ hasText: 'Nora North' }).waitFor();
    const names = await page.locator(`${tid('people-table')} ${tid('row')} .cell-person > div > span:first-child`).allInnerTexts();
    for (const name of ['Nora North', 'Nadia North', 'Nils North']) assert.ok(names.includes(name), `${name} is listed`);
    for (const name of ['Rita Root', 'Rosa Root', 'Rolf Root']) assert.ok(!names.includes(name), `${name} (root school) is not listed`);
    assert.equal(names.length, 4, `north's four people: ${names.join(', ')}`);
    assert.ok(await page.evaluate(() => localStorage.getItem('doorplate.console.token@north')), 'the console token is kept under north');
    assert.equal(await page.evaluate(() => localStorage.getItem('doorplate.console.token')), null);
    await keepShot(page, 'schools-north-console-en');
    assertClean(w);
  } finally {
    await consoleBrowser.close();
  }
});

test('an unknown school\'s address says so, in English and Chinese', { skip }, async () => {
  const res = await phone.goto('/s/nowhere/app');
  assert.equal(res.status(), 404);
  await phone.getByText('No school at this address').waitFor();
  await phone.getByText('此地址没有对应的学校').waitFor();
  assert.equal(await phone.locator(tid('login')).count(), 0, 'no app is started there');
  await keepShot(phone, 'schools-nowhere');
});

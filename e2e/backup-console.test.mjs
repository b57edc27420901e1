// The console's backup card (Settings) against the real server binary: the server's
// backup folder holds a sealed archive, then a newer one with no database in it (what a
// PostgreSQL deployment's daily backup is: keys and media, named `…-no-database`), and
// the card says when, how large, whether it is encrypted and whether the database is
// in it — in English and in Chinese.
//
//   cd e2e && npm ci && node --test ./backup-console.test.mjs
//
// The archives are made with `doorplate backup` on the running server's data folder
// under the names the daily schedule gives (the console reads the kind from the name
// and the encryption from the file's header; the Rust tests check that the schedule
// names and seals them so, on SQLite and on PostgreSQL).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, serverAvailable, BIN } from './lib/server.mjs';
import { launch, shot } from './lib/browser.mjs';

const skip = serverAvailable() ? false : `server binary not found at ${BIN} (set DOORPLATE_BIN)`;
const tid = (id) => `[data-testid="${id}"]`;

let server;
let backups;
let browser;
let page;

/** `doorplate backup` of the server's data folder into the backup folder as `name`. */
function backUp(name, passphrase) {
  const args = ['--data', server.dataDir, 'backup', '--out', path.join(backups, name)];
  if (passphrase) args.push('--passphrase-stdin');
  execFileSync(BIN, args, { input: passphrase ?? '', stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
}

async function openSettings(lang) {
  // A fresh load each time: the card reads the last backup when the view opens.
  await page.goto('about:blank');
  await page.goto(`${server.url}/admin?lang=${lang}#/settings`);
  await page.locator('.view-inner[data-view="settings"]').waitFor();
  await page.waitForFunction(() => !document.querySelector('.view .loading'));
}

before(async () => {
  if (skip) return;
  backups = await mkdtemp(path.join(tmpdir(), 'doorplate-e2e-backups-'));
  server = await startServer({ args: ['--backup-dir', backups] });
  browser = await launch({ baseURL: server.url, viewport: { width: 1440, height: 900 } });
  page = await browser.newPage();
  await page.goto('/admin?lang=en');
  await page.locator(tid('login-username')).fill(server.admin.username);
  await page.locator(tid('login-password')).fill(server.admin.password);
  await page.locator(tid('login-submit')).click();
  await page.locator('.shell').waitFor();
});

after(async () => {
  await browser?.close();
  await server?.cleanup();
  if (backups) await rm(backups, { recursive: true, force: true });
});

test('the backup card says there is none yet', { skip }, async () => {
  await openSettings('en');
  await page.locator(tid('backup-last')).filter({ hasText: /No backup by the server yet/ }).waitFor();
  assert.equal(await page.locator(tid('backup-encrypted')).count(), 0);
});

test('a sealed backup that holds the database', { skip }, async () => {
  backUp('doorplate-20261129T023000Z.dpbk', 'a long passphrase for the e2e');
  await openSettings('en');
  await page.locator(tid('backup-last')).filter({ hasText: /doorplate-20261129T023000Z\.dpbk/ }).waitFor();
  assert.equal(await page.locator(tid('backup-encrypted')).innerText(), 'Encrypted with the operator’s passphrase.');
  assert.equal(await page.locator(tid('backup-no-database')).count(), 0, 'the database is in it');
  await page.locator(tid('backup-last')).scrollIntoViewIfNeeded();
  await shot(page, 'backup-card-sealed-en');
});

test('a newer backup without the database and not sealed, in both languages', { skip }, async () => {
  backUp('doorplate-20261130T023000Z-no-database.dpbk');
  await openSettings('en');
  await page.locator(tid('backup-last')).filter({ hasText: /doorplate-20261130T023000Z-no-database\.dpbk/ }).waitFor();
  assert.match(await page.locator(tid('backup-encrypted')).innerText(), /^Not encrypted: /);
  assert.match(await page.locator(tid('backup-no-database')).innerText(), /keys and media only.*pg_dump/);
  await page.locator(tid('backup-no-database')).scrollIntoViewIfNeeded();
  await shot(page, 'backup-card-no-database-en');

  await openSettings('zh-CN');
  await page.locator(tid('backup-last')).filter({ hasText: /上次备份/ }).waitFor();
  assert.match(await page.locator(tid('backup-encrypted')).innerText(), /^未加密/);
  assert.match(await page.locator(tid('backup-no-database')).innerText(), /仅包含密钥和媒体文件.*pg_dump/);
  await page.locator(tid('backup-no-database')).scrollIntoViewIfNeeded();
  await shot(page, 'backup-card-no-database-zh');
});

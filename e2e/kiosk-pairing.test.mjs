// Browser tests of the kiosk's pairing screen (web/kiosk/pairing.js) when the code comes
// from a scanner rather than the on-screen keyboard: a QR code of the pairing code, read by
// the same USB scanner that reads cards, pairs the screen with no typing at all.
//
// kiosk.test.mjs pairs by typing; these tests use a server of their own.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, serverAvailable, schoolAdmin, BIN } from './lib/server.mjs';
import { launch, LANDSCAPE } from './lib/browser.mjs';

const skip = serverAvailable() ? false : `server binary not found at ${BIN} (set DOORPLATE_BIN)`;

let server;
let school;
let browser;
let room;

const tid = (id) => `[data-testid="${id}"]`;

/**
 * What a scanner does: a fast burst of keys, then Enter. On a busy machine a key can lag
 * past the reader's 50 ms gap and the page takes the burst for typing; then scan again.
 */
async function scan(p, text) {
  const scans = () => p.evaluate(() => Number(document.body.dataset.scans || 0));
  for (let attempt = 1; attempt <= 5; attempt++) {
    const before = await scans();
    await p.keyboard.type(text);
    await p.keyboard.press('Enter');
    if (await scans() > before) return;
    // The slow keys went into the focused code field: clear it before the next try.
    await p.locator(tid('pair-code')).fill('');
  }
  throw new Error(`the reader did not recognise ${text} after 5 scans`);
}

before(async () => {
  if (skip) return;
  server = await startServer();
  school = await schoolAdmin(server);
  room = await school.room('Room 101');
  browser = await launch({ baseURL: server.url });
});

after(async () => {
  if (browser) await browser.close();
  if (server) await server.cleanup();
});

test('a scanned code that is not valid says so and leaves the kiosk unpaired', { skip }, async () => {
  const page = await browser.newPage(LANDSCAPE);
  await page.goto('/kiosk?lang=en');
  await page.locator(tid('pairing')).waitFor();
  await scan(page, 'NOPE0000');
  await page.locator(tid('pair-error')).filter({ hasText: 'not valid' }).waitFor();
  assert.equal(await page.locator(tid('pair-code')).inputValue(), 'NOPE0000', 'the scanned code is shown in the field');
  assert.equal(await page.evaluate(() => localStorage.getItem('doorplate.device_token')), null);
  await page.close();
});

test('a scanned pairing code pairs the kiosk and shows the room', { skip }, async () => {
  const plate = await school.doorplate(room.id, 'Room 101 door');
  const page = await browser.newPage(LANDSCAPE);
  await page.goto('/kiosk?lang=en');
  await page.locator(tid('pairing')).waitFor();
  await scan(page, plate.pairing_code);
  await page.locator(tid('room')).waitFor({ state: 'visible' });
  await page.locator(tid('room-name')).filter({ hasText: 'Room 101' }).waitFor();
  assert.equal(await page.locator(tid('pairing')).count(), 0, 'the pairing screen is gone');
  assert.match(await page.evaluate(() => localStorage.getItem('doorplate.device_token')), /^dpd_/);
  await page.close();
});

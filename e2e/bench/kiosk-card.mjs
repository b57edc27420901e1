// Benchmark: from a card read at the kiosk to the student's own messages on screen,
// measured in headless Chromium while `doorplate-load` drives the same server as a
// school. Not a test: it prints its figures (and writes e2e/artifacts/bench-kiosk.json).
//
//   cargo build --release -p doorplate -p doorplate-load
//   DOORPLATE_BIN=target/release/doorplate node e2e/bench/kiosk-card.mjs
//
// SAMPLES (default 40), RATE (messages per second of background load, default 2000).
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO, startServer, schoolAdmin, sendMessage, login } from '../lib/server.mjs';
import { launch, ARTIFACTS } from '../lib/browser.mjs';

const SAMPLES = Number(process.env.SAMPLES || 40);
const RATE = Number(process.env.RATE || 2000);
const tid = (id) => `[data-testid="${id}"]`;

// The simulator's sockets and requests all come from one address: no per-address cap
// (as `doorplate-load --spawn` does), or the server refuses them with 503.
const server = await startServer({ args: ['--max-connections-per-ip', '0'] });
const school = await schoolAdmin(server);
const room = await school.room('Bench room');
const { pairing_code } = await school.doorplate(room.id, 'Bench door');
const paired = await (await fetch(`${server.url}/api/v1/devices/pair`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pairing_code }),
})).json();
const card = 'BENCH0001';
const student = await school.student('Bench Student 测试', { card });
const guardian = await school.guardian('Bench Parent');
await school.link(guardian.id, student.id);
const { api: parent } = await login(server.url, guardian.username, guardian.password);
for (let i = 0; i < 20; i++) await sendMessage(parent, student.id, `bench message ${i}`);

// The school under load: its own doorplates, students and guardians on the same server.
const load = spawn(path.join(REPO, 'target', 'release', 'doorplate-load'), [
  '--url', server.url, '--pid', String(server.pid()), '--admin', server.admin.username,
  '--admin-password', server.admin.password, '--doorplates', '100', '--students', '4000',
  '--guardians', '200', '--rate', String(RATE), '--duration', '90', '--no-rollover',
  '--out', '/tmp/bench-kiosk-load.json', '--chart', '/tmp/bench-kiosk-load.svg',
], { stdio: ['ignore', 'ignore', 'pipe'] });
let loadLog = '';
load.stderr.on('data', (d) => { loadLog += d.toString(); });
const messaging = () => loadLog.includes('messaging');
while (!messaging()) {
  if (load.exitCode !== null) throw new Error(`doorplate-load stopped: ${loadLog.slice(-500)}`);
  await new Promise((r) => setTimeout(r, 200));
}

const browser = await launch({ baseURL: server.url });
const page = await browser.newPage();
await page.goto(`/kiosk?lang=en#device=${paired.device_token}`);
await page.locator(tid('room')).waitFor();

const times = [];
for (let i = 0; i < SAMPLES; i++) {
  const scans = () => page.evaluate(() => Number(document.body.dataset.scans || 0));
  const before = await scans();
  await page.keyboard.type(card);
  const t0 = performance.now();
  await page.keyboard.press('Enter');
  if ((await scans()) !== before + 1) {
    i--; // the reader took the burst for typing under load; swipe again
    await page.evaluate(() => { const el = document.activeElement; if (el && el.matches('input')) el.value = ''; });
    continue;
  }
  await page.locator(tid('message-text')).filter({ hasText: 'bench message 19' }).waitFor({ timeout: 10_000 });
  times.push(performance.now() - t0);
  await page.locator(tid('done')).click();
  await page.locator('.personal').waitFor({ state: 'detached' });
}
load.kill('SIGINT');
await browser.close();
await server.cleanup();

times.sort((a, b) => a - b);
const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
const result = {
  samples: times.length, background_rate_per_second: RATE,
  p50_ms: +q(0.5).toFixed(1), p95_ms: +q(0.95).toFixed(1), max_ms: +times.at(-1).toFixed(1),
};
await writeFile(path.join(ARTIFACTS, 'bench-kiosk.json'), JSON.stringify(result, null, 2) + '\n');
console.log(JSON.stringify(result));

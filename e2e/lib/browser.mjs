// Headless Chromium (Debian's, at /usr/bin/chromium) driven by playwright-core, with a
// fake camera and microphone, and a `shot()` helper that saves PNGs to e2e/artifacts/.

import { chromium } from 'playwright-core';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ARTIFACTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'artifacts');
const EXECUTABLE = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
];

export const LANDSCAPE = { width: 1280, height: 800 };
export const PORTRAIT = { width: 800, height: 1280 };

/**
 * Launches a browser with a fresh profile. Returns `{context, newPage(viewport?), close()}`.
 * One context = one kiosk device (its localStorage holds the device token).
 */
export async function launch({ baseURL, viewport = LANDSCAPE } = {}) {
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'doorplate-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: EXECUTABLE,
    headless: true,
    args: ARGS,
    viewport,
    baseURL,
    permissions: ['camera', 'microphone'],
    locale: 'en-GB',
  });
  context.setDefaultTimeout(15_000);
  return {
    context,
    async newPage(vp) {
      const page = context.pages()[0] && !context.pages()[0].url().startsWith('http') ? context.pages()[0] : await context.newPage();
      if (vp) await page.setViewportSize(vp);
      page.on('pageerror', (err) => console.error('[page error]', err.message));
      page.on('console', (msg) => { if (msg.type() === 'error') console.error('[console]', msg.text()); });
      return page;
    },
    async close() {
      await context.close().catch(() => {});
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Saves a screenshot as e2e/artifacts/<name>.png and returns its path. */
export async function shot(page, name) {
  await mkdir(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  // Let fonts and the last animation frame settle without a fixed sleep.
  await page.evaluate(() => document.fonts.ready.then(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))));
  await page.screenshot({ path: file, animations: 'disabled' });
  return file;
}

/** Polls `fn` until it returns a truthy value (or throws the last error after `timeout`). */
export async function until(fn, { timeout = 15_000, interval = 100, message = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${message}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

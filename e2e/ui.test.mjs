// Browser tests of the UI pieces the three faces share (/common/ui.js, /common/icons.js):
// toasts, dialogs, avatars and the one icon set, each as the face that uses it shows it.
//
//   cd /work/main && node --test e2e/ui.test.mjs
//
// Each face sets its own options once (`configureUi`): the console stacks two toasts with
// an icon and gives dialogs a ×, the family app asks thumb-sized questions with the
// answer focused, the kiosk shows one big toast at a time. These tests use the real
// pages and the real modules they loaded; where no screen of a face shows a piece
// without a whole school behind it, the test calls that face's own copy of the module.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, access } from 'node:fs/promises';
import path from 'node:path';
import { startServer, serverAvailable, BIN, REPO } from './lib/server.mjs';
import { launch, shot } from './lib/browser.mjs';

const skip = serverAvailable() ? false : `server binary not found at ${BIN} (set DOORPLATE_BIN)`;
const DESKTOP = { width: 1440, height: 900 };
const PHONE = { width: 390, height: 844 };
const tid = (id) => `[data-testid="${id}"]`;

let server;
let browser;
const warnings = [];

before(async () => {
  if (skip) return;
  server = await startServer();
  browser = await launch({ baseURL: server.url, viewport: DESKTOP });
});

after(async () => {
  await browser?.close();
  await server?.cleanup();
});

/** A page of `face` with its warnings collected (an unknown icon is one). */
async function openFace(url, viewport) {
  const page = await browser.context.newPage();
  await page.setViewportSize(viewport);
  page.on('console', (msg) => { if (msg.type() === 'warning' || msg.type() === 'error') warnings.push(`${url}: ${msg.text()}`); });
  page.on('pageerror', (err) => warnings.push(`${url}: ${err.message}`));
  await page.goto(url);
  return page;
}

// ---- the files ------------------------------------------------------------------------

test('the shared pieces are served from /common, and no face ships its own', { skip }, async () => {
  for (const file of ['ui.js', 'icons.js']) {
    const res = await fetch(`${server.url}/common/${file}`);
    assert.equal(res.status, 200, file);
    assert.match(res.headers.get('content-type'), /^text\/javascript/, file);
  }
  for (const face of ['kiosk', 'app', 'admin']) {
    const res = await fetch(`${server.url}/${face}/icons.js`);
    assert.equal(res.status, 404, `${face} has no icons of its own`);
    await assert.rejects(access(path.join(REPO, 'web', face, 'icons.js')));
  }
  // The app works offline: its service worker keeps the shared modules with the shell.
  const sw = await (await fetch(`${server.url}/app/sw.js`)).text();
  for (const file of ['/common/ui.js', '/common/icons.js']) assert.ok(sw.includes(`'${file}'`), `sw.js keeps ${file}`);
});

test('every icon a face names by a literal is in the one set', async () => {
  const set = await readFile(path.join(REPO, 'web', 'common', 'icons.js'), 'utf8');
  const names = new Set([...set.matchAll(/^ {2}([a-zA-Z]+): '</gm)].map((m) => m[1]));
  assert.ok(names.size > 40, 'the set parsed');
  // The ways the faces name an icon: icon('x'), {icon: 'x'}, {iconName: 'x'}, maps of
  // kinds to icons, and the helpers that take an icon name second or third.
  const patterns = [
    /\bicon\('([a-zA-Z]+)'/g, /\biconName: '([a-zA-Z]+)'/g, /\bicon: '([a-zA-Z]+)'/g,
    /\bemptyState\('([a-zA-Z]+)'/g, /\biconButton\('([a-zA-Z]+)'/g, /\bbarButton\('\w+', '([a-zA-Z]+)'/g,
    /\bstep\(\d, '[\w.]+', '([a-zA-Z]+)'/g, /\bmediaButton\('\w+', '([a-zA-Z]+)'/g, /\bbutton\('[\w.]+', '([a-zA-Z]+)'/g,
  ];
  const maps = [/_ICON = \{([^}]*)\}/g, /\bicon\(\{([^}]*)\}/g, /\bicons: \{([^}]*)\}/g, /\bspecial = \{([^}]*)\}/g];
  const missing = [];
  let seen = 0;
  for (const face of ['kiosk', 'app', 'admin', 'admin/views', 'common']) {
    const dir = path.join(REPO, 'web', face);
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.js'))) {
      const src = await readFile(path.join(dir, file), 'utf8');
      const used = [
        ...patterns.flatMap((re) => [...src.matchAll(re)].map((m) => m[1])),
        ...maps.flatMap((re) => [...src.matchAll(re)].flatMap((m) => [...m[1].matchAll(/: '([a-zA-Z]+)'/g)].map((n) => n[1]))),
        ...[...src.matchAll(/icon\(\w+ \? '([a-zA-Z]+)' : '([a-zA-Z]+)'\)/g)].flatMap((m) => [m[1], m[2]]),
      ];
      seen += used.length;
      for (const name of used) if (!names.has(name)) missing.push(`${face}/${file}: ${name}`);
    }
  }
  assert.ok(seen > 100, `found the icon names (${seen})`);
  assert.deepEqual(missing, []);
});

// ---- the console ----------------------------------------------------------------------

test('console: a dialog shows what went wrong inside it, Escape closes it and focus returns', { skip }, async () => {
  const page = await openFace('/admin?lang=en', DESKTOP);
  await page.locator(tid('login-username')).fill(server.admin.username);
  await page.locator(tid('login-password')).fill(server.admin.password);
  await page.locator(tid('login-submit')).click();
  await page.locator(tid('people-table')).waitFor();

  const opener = page.locator(tid('people-new'));
  await opener.click();
  const dialog = page.locator(tid('person-create'));
  await dialog.waitFor();
  assert.equal(await dialog.getAttribute('role'), 'dialog');
  assert.equal(await dialog.getAttribute('aria-modal'), 'true');
  // Its title names it for a screen reader, and its first field has the focus.
  const labelledBy = await dialog.getAttribute('aria-labelledby');
  assert.equal(await page.locator(`#${labelledBy}`).innerText(), 'New person');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'new-role');
  // The console's dialogs have a × in the head.
  assert.equal(await dialog.locator('.dialog-head button[aria-label="Close"]').count(), 1);

  // A person with no name: the server says no, the sentence shows in the dialog, which stays.
  await page.locator(tid('new-submit')).click();
  const error = dialog.locator(tid('form-error'));
  await error.waitFor();
  // The console's own sentence for the refusal (lib.js errorText), not a status or a code.
  assert.match(await error.innerText(), /^[A-Z].*\.$/);
  assert.doesNotMatch(await error.innerText(), /HTTP|422|invalid_/);
  assert.equal(await page.locator(tid('new-submit')).isDisabled(), false, 'the button is not left busy');
  await shot(page, 'ui-admin-dialog-error-en');

  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'people-new', 'focus is back on the opener');

  // A question over a dialog: Escape answers the question only (no), the dialog stays.
  await opener.click();
  await dialog.waitFor();
  const answer = page.evaluate(async () => {
    const { confirmDialog } = await import('/common/ui.js');
    return confirmDialog({ title: 'Discard?', text: 'The new person is not saved yet.', confirm: 'Discard', danger: true });
  });
  const question = page.locator(tid('confirm-dialog'));
  await question.waitFor();
  assert.equal(await question.getAttribute('role'), 'alertdialog');
  // The console does not put the focus on a red button.
  assert.notEqual(await page.evaluate(() => document.activeElement?.dataset.testid), 'confirm-dialog-confirm');
  await page.keyboard.press('Escape');
  assert.equal(await answer, false);
  await question.waitFor({ state: 'detached' });
  assert.equal(await dialog.isVisible(), true, 'the dialog under the question is still open');
  await dialog.locator('.dialog-head button[aria-label="Close"]').click();
  await dialog.waitFor({ state: 'detached' });
  await page.close();
});

test('console: two toasts at most, each with its icon, and they leave on their own', { skip }, async () => {
  const page = await openFace('/admin?lang=en', DESKTOP);
  await page.locator('.shell').waitFor(); // still signed in from the test above
  await page.evaluate(async () => {
    const { toast } = await import('/common/ui.js');
    toast('First saved', { kind: 'success' });
    toast('Second saved', { kind: 'success' });
    toast('That did not work', { kind: 'error' });
  });
  const toasts = page.locator(`.toasts ${tid('toast')}`);
  assert.deepEqual(await toasts.allInnerTexts(), ['Second saved', 'That did not work'], 'the newest two');
  assert.equal(await page.locator('.toasts').getAttribute('role'), 'status');
  assert.equal(await toasts.nth(1).getAttribute('data-kind'), 'error');
  // Errors wear the alert sign, the others a tick; both are in the one set.
  assert.equal(await toasts.nth(0).locator('svg.icon path').count() > 0, true);
  assert.notEqual(await toasts.nth(0).locator('svg.icon').innerHTML(), await toasts.nth(1).locator('svg.icon').innerHTML());
  await shot(page, 'ui-admin-toasts-en');
  await page.evaluate(async () => {
    const { toast } = await import('/common/ui.js');
    toast('Gone soon', { ms: 50 });
  });
  // It fades (the console's `.leaving` transition), then it is gone.
  await page.locator(`${tid('toast')}:has-text("Gone soon")`).waitFor({ state: 'detached' });
  await page.close();
});

// ---- the family app -------------------------------------------------------------------

test('family app: a question has no ×, its answer has the focus, and it resolves', { skip }, async () => {
  const page = await openFace('/app?lang=en', PHONE);
  await page.locator(tid('login')).waitFor();
  const answer = page.evaluate(async () => {
    const { confirmDialog } = await import('/common/ui.js');
    return confirmDialog({ title: 'Send as urgent?', text: 'This will also alert the class teacher.', confirm: 'Mark as urgent', danger: true, icon: 'urgent', testid: 'q' });
  });
  const question = page.locator(tid('q'));
  await question.waitFor();
  assert.equal(await question.locator('.dialog-head button').count(), 0, 'no × in the app');
  assert.equal(await question.locator('.dialog-icon svg.icon').count(), 1);
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'q-confirm');
  assert.match(await page.locator(tid('q-confirm')).getAttribute('class'), /btn-danger/);
  await shot(page, 'ui-app-question-en');
  await page.locator(tid('q-confirm')).click();
  assert.equal(await answer, true);
  await question.waitFor({ state: 'detached' });

  // A press beside the question is a no.
  const second = page.evaluate(async () => {
    const { confirmDialog } = await import('/common/ui.js');
    return confirmDialog({ title: 'Log out?', text: 'You will need your password again.', confirm: 'Log out', testid: 'q2' });
  });
  await page.locator(tid('q2')).waitFor();
  await page.mouse.click(5, 5);
  assert.equal(await second, false);
  await page.locator(tid('q2')).waitFor({ state: 'detached' });

  // One toast at a time in the app: the newer replaces the older.
  await page.evaluate(async () => {
    const { toast } = await import('/common/ui.js');
    toast('Offline');
    toast('Back online');
  });
  assert.deepEqual(await page.locator(tid('toast')).allInnerTexts(), ['Back online']);

  // A child's avatar has the accent, an adult's the grey; Chinese names show the given name.
  const avatars = await page.evaluate(async () => {
    const { personAvatar } = await import('/app/ui.js');
    const child = personAvatar({ display_name: '张小明 Zhang Xiaoming', role: 'student' }, 'lg');
    const adult = personAvatar({ display_name: 'Mei Chen', role: 'guardian' });
    return [child, adult].map((el) => ({ cls: el.className, text: el.textContent, hidden: el.getAttribute('aria-hidden') }));
  });
  assert.deepEqual(avatars, [
    { cls: 'avatar avatar-lg avatar-child', text: '小明', hidden: 'true' },
    { cls: 'avatar avatar-md avatar-adult', text: 'MC', hidden: 'true' },
  ]);
  await page.close();
});

// ---- the kiosk --------------------------------------------------------------------------

test('kiosk: one big toast at a time, in its kind, and none left when a visit starts', { skip }, async () => {
  const page = await openFace('/kiosk?lang=en', { width: 1280, height: 800 });
  await page.locator(tid('pairing')).waitFor();
  await page.evaluate(async () => {
    const { toast } = await import('/common/ui.js');
    toast('Welcome, Amy Chen! You are checked in.', { kind: 'ok' });
    toast('Goodbye! You are checked out.', { kind: 'ok' });
  });
  const toast = page.locator(tid('toast'));
  assert.deepEqual(await toast.allInnerTexts(), ['Goodbye! You are checked out.']);
  assert.equal(await toast.getAttribute('data-kind'), 'ok');
  // The kiosk's look: large type, centred near the bottom above the bar.
  const box = await toast.boundingBox();
  assert.ok(Math.abs(box.x + box.width / 2 - 640) < 2, 'centred');
  assert.ok(box.y + box.height < 800 - 120, 'above the bar');
  assert.equal(await toast.evaluate((el) => getComputedStyle(el).fontSize), '24px');
  await shot(page, 'ui-kiosk-toast-en');
  await page.evaluate(async () => (await import('/common/ui.js')).clearToasts());
  assert.equal(await toast.count(), 0);
  await page.close();
});

test('no face asked for an icon that is not in the set, or failed to load', { skip }, () => {
  assert.deepEqual(warnings.filter((w) => !/Failed to load resource/.test(w)), []);
});

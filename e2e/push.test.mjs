// Issue 16 in the family app: notifications on this phone. A push is delivered to the
// app's service worker through the DevTools protocol (ServiceWorker.deliverPushMessage,
// as a push service would deliver it), and the notification it shows has the sender as
// its title and the kind of message as its body, in the reader's language, never the
// text; one per conversation (its tag), which a read receipt ("Li Hua: read your
// message") replaces. Tapping it opens that conversation. The notifications sheet lists
// the person's devices with their names and last use, and one is removed there; the
// switch asks for the browser's permission only when tapped; "Tell me when my messages
// are read" is saved on the server and still on after a reload.
// English and Chinese; screenshots in e2e/artifacts/.

import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startServer, serverAvailable, schoolAdmin, login, sendMessage, BIN } from './lib/server.mjs';
import { launch, shot, until } from './lib/browser.mjs';

const skip = serverAvailable() ? false : `server binary not found at ${BIN} (set DOORPLATE_BIN)`;
const PHONE = { width: 390, height: 844 };

let server;
const browsers = [];
const s = {};

/** Closes the browsers a test opened when it ends, so no idle Chromium (one that tried
 * to reach a push service) competes with the next test for the machine's two cores. */
async function closeBrowsers() {
  while (browsers.length) await browsers.pop().close();
}

const tid = (id) => `[data-testid="${id}"]`;

async function appPage(user, lang = 'en') {
  const browser = await launch({ baseURL: server.url, viewport: PHONE });
  browsers.push(browser);
  const page = await browser.newPage(PHONE);
  // Counts the app's requests for the notification permission.
  await page.addInitScript(() => {
    window.__permissionAsks = 0;
    const ask = Notification.requestPermission.bind(Notification);
    Notification.requestPermission = (...args) => { window.__permissionAsks += 1; return ask(...args); };
  });
  await page.goto(`/app?lang=${lang}`);
  await page.locator(tid('login-username')).fill(user.username);
  await page.locator(tid('login-password')).fill(user.password);
  await page.locator(tid('login-submit')).click();
  await page.locator(tid('home')).waitFor();
  await page.locator('body[data-live="connected"]').waitFor({ state: 'attached' });
  return { browser, page };
}

/** A subscription as a browser's push service would make it (a real P-256 key). */
function fakeSubscription(name) {
  const ecdh = crypto.createECDH('prime256v1');
  ecdh.generateKeys();
  return {
    endpoint: `https://fcm.googleapis.com/fcm/send/${crypto.randomUUID()}`,
    expirationTime: null,
    keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: crypto.randomBytes(16).toString('base64url') },
    device_name: name,
  };
}

/** The app's service worker registration id, from the DevTools protocol. */
async function registrationId(cdp) {
  const regs = [];
  cdp.on('ServiceWorker.workerRegistrationUpdated', (e) => regs.push(...e.registrations));
  await cdp.send('ServiceWorker.enable');
  const reg = await until(() => regs.find((r) => r.scopeURL.endsWith('/app/') && !r.isDeleted), { message: 'the app service worker' });
  return reg.registrationId;
}

/** The notifications the app's service worker shows now. */
const shown = (page) => page.evaluate(async () => {
  // (Awaiting `serviceWorker.ready` from a test closes the page in this Chromium.)
  const reg = await navigator.serviceWorker.getRegistration();
  const list = await reg.getNotifications();
  return list.map((n) => ({ title: n.title, body: n.body, tag: n.tag, url: n.data?.url }));
});

before(async () => {
  if (skip) return;
  server = await startServer();
  const school = await schoolAdmin(server);
  s.school = school;
  s.teacher = await school.teacher('Li Hua');
  s.amy = await school.student('Amy Chen');
  s.mumUser = await school.guardian('Mei Chen');
  await school.link(s.mumUser.id, s.amy.id);
  await school.group('Class 7-2', [s.amy.id], s.teacher.id);
  s.mum = await login(server.url, s.mumUser.username, s.mumUser.password);
  s.li = await login(server.url, s.teacher.username, s.teacher.password);
});

afterEach(closeBrowsers);

after(async () => {
  await closeBrowsers();
  if (server) await server.cleanup();
});

for (const lang of ['en', 'zh-CN']) {
  test(`a pushed message shows who wrote and what kind, and a tap opens the thread (${lang})`, { skip }, async () => {
    const { browser, page } = await appPage(s.mumUser, lang);
    const origin = new URL(server.url).origin;
    await browser.context.grantPermissions(['notifications'], { origin });
    await until(() => page.evaluate(async () => !!(await navigator.serviceWorker.getRegistration())?.active), { message: 'the service worker active' });
    // A message from the teacher, so the thread exists; the push names that conversation.
    const { conversation } = await sendMessage(s.li.api, s.mumUser.id, `do not show ${lang}`);
    const cdp = await browser.context.newCDPSession(page);
    const id = await registrationId(cdp);
    const note = {
      type: 'message', tag: `c:${conversation.id}`, conversation_id: conversation.id, from: 'Li Hua',
      kind: 'voice', text: null, urgent: false, url: `#/c/${conversation.id}`, lang: 'en',
    };
    // A push delivered while the worker is still starting can be lost in this headless
    // Chromium: deliver again until it shows (same tag, so never two).
    let list = null;
    for (let i = 0; i < 5 && !list; i++) {
      await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId: id, data: JSON.stringify(note) });
      list = await until(async () => { const l = await shown(page); return l.length ? l : null; }, { message: 'a notification', timeout: 3000 }).catch(() => null);
    }
    assert.ok(list, 'a notification is shown');
    assert.equal(list.length, 1);
    assert.equal(list[0].title, 'Li Hua');
    assert.equal(list[0].body, lang === 'en' ? 'sent a voice message' : '发来一条语音', 'in the language the app shows');
    assert.equal(list[0].tag, `c:${conversation.id}`);
    assert.ok(!JSON.stringify(list).includes('do not show'), 'never the text');

    // A second push in the same conversation replaces the first (one per conversation).
    await cdp.send('ServiceWorker.deliverPushMessage', {
      origin, registrationId: id, data: JSON.stringify({ ...note, kind: 'image' }),
    });
    await until(async () => { const l = await shown(page); return l.length === 1 && l[0].body !== list[0].body; }, { message: 'the replaced notification' });
    assert.equal((await shown(page))[0].body, lang === 'en' ? 'sent a photo' : '发来一张照片');

    // A read receipt in that conversation replaces it too: who read, never what.
    const read = { type: 'read', tag: `c:${conversation.id}`, conversation_id: conversation.id, reader: 'Li Hua', count: 1, url: `#/c/${conversation.id}`, lang: 'en' };
    await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId: id, data: JSON.stringify(read) });
    const readBody = lang === 'en' ? 'read your message' : '已读你的消息';
    await until(async () => { const l = await shown(page); return l.length === 1 && l[0].body === readBody; }, { message: 'the read receipt' });
    assert.deepEqual(await shown(page), [{ title: 'Li Hua', body: readBody, tag: `c:${conversation.id}`, url: `#/c/${conversation.id}` }]);
    await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId: id, data: JSON.stringify({ ...read, count: 3 }) });
    const manyBody = lang === 'en' ? 'read your 3 messages' : '已读你的 3 条消息';
    await until(async () => { const l = await shown(page); return l.length === 1 && l[0].body === manyBody; }, { message: 'a receipt for three' });

    // A tap on it opens the conversation in the app.
    assert.equal(await page.locator(tid('thread')).count(), 0, 'the home screen first');
    const [worker] = browser.context.serviceWorkers();
    assert.ok(worker, 'the service worker is running');
    await worker.evaluate(async () => {
      const [n] = await self.registration.getNotifications();
      self.dispatchEvent(new NotificationEvent('notificationclick', { notification: n }));
    });
    await until(() => new URL(page.url()).hash === `#/c/${conversation.id}`, { message: 'the thread opened' });
    await page.locator(tid('thread')).waitFor();
    await page.locator('.bubble', { hasText: `do not show ${lang}` }).waitFor();
    await shot(page, `push-opened-thread-${lang}`);
    await cdp.detach();
  });
}

for (const lang of ['en', 'zh-CN']) {
  test(`the notifications sheet lists the devices, removes one, and asks permission only on a tap (${lang})`, { skip }, async () => {
    const other = fakeSubscription(lang === 'en' ? 'Kitchen tablet' : '厨房平板');
    await s.mum.api.post('/api/v1/push/subscriptions', other);
    const { browser, page } = await appPage(s.mumUser, lang);
    await browser.context.grantPermissions(['notifications'], { origin: new URL(server.url).origin });
    const asks = () => page.evaluate(() => window.__permissionAsks);
    await page.locator(tid('menu')).click();
    await page.locator(tid('push-settings')).click();
    await page.locator(tid('push-sheet')).waitFor();
    const device = page.locator(tid('push-device')).filter({ hasText: other.device_name });
    await device.waitFor();
    assert.match(await device.locator(tid('push-last-used')).innerText(), lang === 'en' ? /Not notified yet/ : /尚未收到通知/);
    const label = await page.locator('.push-switch').innerText();
    assert.match(label, lang === 'en' ? /Notify me on this phone/ : /在这部手机上通知我/);
    assert.equal(await page.locator(tid('push-switch')).isChecked(), false);
    assert.equal(await asks(), 0, 'opening the sheet asks nothing');
    assert.ok(!(await page.locator(tid('push-sheet')).innerText()).includes('null'), 'no stray text');
    await shot(page, `push-sheet-${lang}`);

    // A tap asks the browser; headless Chromium has no push service, so the
    // subscription fails and the app says so (the switch stays off).
    await page.locator('.push-switch').click();
    await until(async () => (await asks()) === 1, { message: 'the permission asked on the tap' });
    await page.locator('.toast').first().waitFor({ timeout: 25_000 });
    await shot(page, `push-switch-tapped-${lang}`);

    // Removing the other device.
    await device.locator(tid('push-remove')).click();
    await page.locator(tid('push-remove-dialog')).waitFor();
    await shot(page, `push-remove-confirm-${lang}`);
    await page.locator(tid('push-remove-dialog-confirm')).click();
    await until(async () => (await page.locator(tid('push-device')).filter({ hasText: other.device_name }).count()) === 0, { message: 'the device gone' });
    const { subscriptions } = await s.mum.api.get('/api/v1/push/subscriptions');
    assert.equal(subscriptions.filter((x) => x.device_name === other.device_name).length, 0, 'removed on the server');
  });
}

for (const lang of ['en', 'zh-CN']) {
  test(`"Tell me when my messages are read" is saved on the server and still on after a reload (${lang})`, { skip }, async () => {
    await s.mum.api.patch('/api/v1/push/settings', { read_receipts: false });
    const { page } = await appPage(s.mumUser, lang);
    const sheet = async () => {
      await page.locator(tid('menu')).click();
      await page.locator(tid('push-settings')).click();
      await page.locator(tid('push-sheet')).waitFor();
      await page.locator(tid('push-read-receipts')).waitFor({ state: 'attached' });
    };
    const receipts = () => page.locator(tid('push-read-receipts'));
    const onServer = async () => (await s.mum.api.get('/api/v1/push/settings')).read_receipts;
    await sheet();
    const label = page.locator('.push-receipts');
    assert.equal(await label.innerText(), lang === 'en' ? 'Tell me when my messages are read' : '我的消息被阅读时通知我');
    assert.match(await page.locator('.push-option-help').innerText(), lang === 'en' ? /who read your message, never what it said/ : /谁读了你的消息，不显示内容/);
    assert.equal(await receipts().isChecked(), false, 'off by default');
    await shot(page, `push-read-receipts-off-${lang}`);

    await label.click();
    await until(async () => (await onServer()) === true, { message: 'saved on the server' });
    assert.equal(await receipts().isChecked(), true);
    assert.match(await page.locator('.toast').first().innerText(), lang === 'en' ? /You will be told when your messages are read/ : /你的消息被阅读时会通知你/);
    await shot(page, `push-read-receipts-on-${lang}`);

    // A reload shows it as the server keeps it.
    await page.reload();
    await page.locator(tid('home')).waitFor();
    await sheet();
    await until(() => receipts().isChecked(), { message: 'still on after a reload' });

    // And off again, on the server too.
    await page.locator('.push-receipts').click();
    await until(async () => (await onServer()) === false, { message: 'turned off on the server' });
    assert.equal(await receipts().isChecked(), false);
  });
}

test('the console turns notification previews on for the school', { skip }, async () => {
  const DESKTOP = { width: 1280, height: 900 };
  const browser = await launch({ baseURL: server.url, viewport: DESKTOP });
  browsers.push(browser);
  const page = await browser.newPage(DESKTOP);
  // Signed in once; the console keeps its token, so the second language opens signed in.
  await page.goto('/admin?lang=en');
  await page.locator(tid('login-username')).fill(server.admin.username);
  await page.locator(tid('login-password')).fill(server.admin.password);
  await page.locator(tid('login-submit')).click();
  await page.locator('.shell').waitFor();
  for (const [lang, label] of [['en', 'Phone notifications show the message’s text'], ['zh-CN', '手机通知显示消息内容']]) {
    await page.goto(`/admin?lang=${lang}`);
    await page.locator('.shell').waitFor();
    await page.locator(tid('nav-settings')).click();
    await page.locator('.view-inner[data-view="settings"]').waitFor();
    await page.waitForFunction(() => !document.querySelector('.view .loading'));
    const box = page.locator(tid('set-push-previews'));
    await page.getByText(label).waitFor();
    await box.scrollIntoViewIfNeeded();
    await shot(page, `admin-push-previews-${lang}`);
    if (lang === 'en') {
      assert.equal(await box.isChecked(), false, 'off by default');
      await box.check();
      await page.locator(tid('settings-save')).click();
      await until(async () => (await s.school.settings()).push_previews === true, { message: 'the setting is saved' });
    } else {
      assert.equal(await box.isChecked(), true);
    }
  }
  await s.school.patchSettings({ push_previews: false });
});

// The server's refusals in the reader's language (issue 17, item 6): the console words
// an error from its code and parameters (which field, what limit), and a Chinese reader
// never sees the server's English sentence; the audit log reads references as phrases.
//
//   cd e2e && npm ci && node --test --test-concurrency=1 ./errors-i18n.test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, serverAvailable, schoolAdmin, login, sendMessage, BIN } from './lib/server.mjs';
import { launch, shot } from './lib/browser.mjs';

const skip = serverAvailable() ? false : `server binary not found at ${BIN} (set DOORPLATE_BIN)`;
const DESKTOP = { width: 1440, height: 900 };
const tid = (id) => `[data-testid="${id}"]`;

let server;
let browser;
let school;

before(async () => {
  if (skip) return;
  server = await startServer();
  school = await schoolAdmin(server);
  await school.teacher('Zhao Min', { username: 'zhao.min', password: 'teach-me-1' });
  browser = await launch({ baseURL: server.url, viewport: DESKTOP });
});

after(async () => {
  await browser?.close();
  await server?.cleanup();
});

/** Signs in as the admin unless this browser is signed in already (pages share it). */
async function signInIfAsked(page) {
  const form = page.locator(tid('login-username'));
  const shell = page.locator('.shell');
  await Promise.race([form.waitFor(), shell.waitFor()]);
  if (await shell.count()) return;
  await form.fill(server.admin.username);
  await page.locator(tid('login-password')).fill(server.admin.password);
  await page.locator(tid('login-submit')).click();
  await shell.waitFor();
}

/** Opens the console in `lang`, signed in, with the "new person" dialog open. */
async function newPerson(lang) {
  const page = await browser.newPage();
  await page.goto(`/admin?lang=${lang}#/people`);
  await signInIfAsked(page);
  await page.locator(tid('people-table')).waitFor();
  await page.locator(tid('people-new')).click();
  const dialog = page.locator(tid('person-create'));
  await dialog.waitFor();
  return { page, dialog };
}

async function refusal(page, dialog) {
  await page.locator(tid('new-submit')).click();
  const error = dialog.locator(tid('form-error'));
  await error.waitFor();
  return (await error.innerText()).trim();
}

test('a refused name and a taken username, in Chinese and in English', { skip }, async () => {
  const long = '名'.repeat(101);
  for (const [lang, tooLong, taken] of [
    ['zh-CN', '姓名最多 100 个字符。', '该用户名已被使用。'],
    ['en', 'The name can be at most 100 characters.', 'That username is already taken.'],
  ]) {
    const { page, dialog } = await newPerson(lang);
    await dialog.locator(tid('new-role')).selectOption('teacher');
    await dialog.locator(tid('new-name')).fill(long);
    assert.equal(await refusal(page, dialog), tooLong);
    await dialog.locator(tid('new-name')).fill('Another Zhao');
    await dialog.locator(tid('new-username')).fill('zhao.min');
    await dialog.locator(tid('new-password')).fill('secret-99');
    const text = await refusal(page, dialog);
    assert.equal(text, taken);
    if (lang === 'zh-CN') assert.doesNotMatch(text, /[A-Za-z]/, 'no English inside the Chinese console');
    await shot(page, `errors-taken-${lang === 'en' ? 'en' : 'zh'}`);
    await page.close();
  }
});

test('the audit log reads references as phrases, not raw keys', { skip }, async () => {
  // A teacher writes to a parent, who reads it: the audit's `message.read` entry carries
  // a `conversation_id`, which must read as "对话 3", never "conversation_id 3".
  const mum = await school.guardian('Mum Li');
  const zhao = await login(server.url, 'zhao.min', 'teach-me-1');
  const { conversation, message } = await sendMessage(zhao.api, mum.id, 'Please sign the form.');
  const parent = await login(server.url, mum.username, mum.password);
  await parent.api.post(`/api/v1/conversations/${conversation.id}/read`, { up_to: message.id }, { expect: 204 });
  // A settings change lists every setting: each reads as the settings page names it.
  await school.api.patch('/api/v1/settings', { session_idle_seconds: 90 });
  const page = await browser.newPage();
  await page.goto('/admin?lang=zh-CN#/audit');
  await signInIfAsked(page);
  await page.locator(tid('audit-row')).first().waitFor();
  const text = await page.locator(tid('audit-table')).innerText();
  assert.match(text, new RegExp(`对话 ${conversation.id}`), 'the conversation reads as a phrase');
  assert.doesNotMatch(text, /\b[a-z]+_id\b/, 'no raw id keys');
  assert.doesNotMatch(text, /\b[a-z]+_[a-z_]+\b/, 'no raw snake_case keys');
  assert.match(text, /会话空闲时间 90/);
  await shot(page, 'errors-audit-zh');
  await page.close();
});

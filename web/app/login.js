// The login screen: username and password, once per phone (the token is kept).

import { api, ApiError, schoolName } from '/common/api.js';
import { h } from '/common/dom.js';
import { t, getLang } from '/common/i18n.js';
import { icon } from '/common/icons.js';

/**
 * @param {object} opts
 * @param {(res: {token, user}) => void} opts.onLoggedIn
 * @param {() => void} opts.onToggleLang
 */
export function createLogin({ onLoggedIn, onToggleLang }) {
  const user = h('input', { id: 'login-user', name: 'username', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', required: true, 'data-testid': 'login-username' });
  const pass = h('input', { id: 'login-pass', name: 'password', type: 'password', autocomplete: 'current-password', required: true, 'data-testid': 'login-password' });
  const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'login-error', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', 'data-testid': 'login-submit' });
  const userLabel = h('label', { for: 'login-user' });
  const passLabel = h('label', { for: 'login-pass' });
  const title = h('h1', { class: 'login-title' });
  // Which school this is, when the address names one: two schools' apps look alike.
  const school = h('p', { class: 'login-school', 'data-testid': 'login-school', hidden: true });
  const tagline = h('p', { class: 'login-tagline' });
  const help = h('p', { class: 'login-help' });
  const langBtn = h('button', { type: 'button', class: 'lang-pill', 'data-testid': 'login-lang', onclick: () => onToggleLang() }, icon('globe'), h('span'));
  let busy = false;

  const form = h('form', { class: 'login-form', novalidate: true, onsubmit: (e) => { e.preventDefault(); go(); } },
    h('div', { class: 'field-group' }, userLabel, user),
    h('div', { class: 'field-group' }, passLabel, pass),
    error, submit, help);
  const el = h('main', { class: 'login', 'data-testid': 'login' },
    h('div', { class: 'login-top' }, langBtn),
    h('div', { class: 'login-card' },
      h('img', { class: 'login-logo', src: '/app/icons/icon.svg', alt: '', width: '72', height: '72' }),
      h('p', { class: 'login-brand' }),
      school,
      title, tagline, form));
  schoolName().then((name) => { if (name) { school.textContent = name; school.hidden = false; } });

  /** The error shown, as a translation key (so a change of language re-translates it). */
  let errorKey = null;
  let errorVars = {};
  function showError(key, vars = {}) {
    errorKey = key;
    errorVars = vars;
    error.textContent = key ? t(key, vars) : '';
    error.hidden = !key;
  }

  async function go() {
    if (busy) return;
    const username = user.value.trim();
    const password = pass.value;
    if (!username || !password) return showError('login.missing');
    busy = true;
    submit.disabled = true;
    submit.textContent = t('login.busy');
    showError(null);
    try {
      // The app keeps the bearer token; no session cookie (nothing here uses it).
      const res = await api('POST', '/api/v1/auth/login', { body: { username, password, cookie: false } });
      pass.value = '';
      onLoggedIn(res);
    } catch (err) {
      if (err instanceof ApiError && err.status === 429) showError('error.throttled', { n: err.retryAfter ?? 30 });
      else if (err instanceof ApiError && (err.status === 401 || err.status === 400 || err.status === 403)) showError('login.invalid');
      else if (err instanceof ApiError && err.status === 0) showError('error.network');
      else showError('error.generic');
      pass.select();
    } finally {
      busy = false;
      submit.disabled = false;
      submit.textContent = t('login.submit');
    }
  }

  /** Fills in the texts; `messageKey` shows a message (why the user is here again). */
  function draw(messageKey) {
    el.querySelector('.login-brand').textContent = t('app.name');
    title.textContent = t('login.title');
    tagline.textContent = t('app.tagline');
    userLabel.textContent = t('login.username');
    passLabel.textContent = t('login.password');
    submit.textContent = busy ? t('login.busy') : t('login.submit');
    help.textContent = t('login.help');
    langBtn.querySelector('span').textContent = t('lang.switch');
    langBtn.setAttribute('aria-label', t('lang.switch.label'));
    document.documentElement.lang = getLang();
    if (messageKey !== undefined) showError(messageKey);
    else showError(errorKey, errorVars);
  }

  return { el, draw, focus: () => user.focus() };
}

// The staff console: sign-in, the left navigation, and one view at a time in the main
// area (each view lives in views/<name>.js and is loaded when first opened). The token
// is kept in localStorage; a 401 from any call brings the sign-in back.

import { api, ApiError, schoolName } from '/common/api.js';
import { openEvents } from '/common/events.js';
import { h, setChildren } from '/common/dom.js';
import { t, setLang, getLang, onLangChange } from '/common/i18n.js';
import './strings.js';
import { icon } from '/common/icons.js';
import { session, setToken, call, errorText, invalidate, isAdmin } from './lib.js';
import { configureUi } from '/common/ui.js';
import { avatar, formError, toast } from './ui.js';
import { createAlerts } from './alerts.js';
import { liveCalls } from './live-calls.js';

const LANG_KEY = 'doorplate.console.lang';
const urlLang = new URLSearchParams(location.search).get('lang');

// The console's toasts sit in a corner with an icon, two at most (a save and its
// follow-up), and dialog errors read as the console's error sentences.
configureUi({ toasts: { max: 2, ms: 3200, errorMs: 6000, icons: { error: 'alert', default: 'check' } }, errorText });

/** The navigation, in the order of DESIGN.md (then the district's servers); `admin` marks admin-only views. */
const NAV = [
  { id: 'people', icon: 'people' },
  { id: 'classes', icon: 'school' },
  { id: 'rooms', icon: 'rooms' },
  { id: 'timetable', icon: 'timetable' },
  { id: 'arrangements', icon: 'arrangements' },
  { id: 'notices', icon: 'megaphone' },
  { id: 'presence', icon: 'pin' },
  { id: 'calls', icon: 'phone' },
  { id: 'audit', icon: 'audit', admin: true },
  { id: 'settings', icon: 'settings', admin: true },
  { id: 'import', icon: 'import', admin: true },
  // The district's servers and leases: GET /api/v1/district answers admins only.
  { id: 'district', icon: 'server', admin: true },
];

const root = document.getElementById('app');
let cleanup = null;
let events = null;
let mountSeq = 0;
const listeners = new Set();

// ---- language ---------------------------------------------------------------------

function preferredLang() {
  return urlLang || localStorage.getItem(LANG_KEY) || session.settings?.language || 'auto';
}

function applyLang() {
  setLang(preferredLang());
  document.title = t('console.title');
}

function toggleLang() {
  const next = getLang() === 'zh-CN' ? 'en' : 'zh-CN';
  localStorage.setItem(LANG_KEY, next);
  if (urlLang) {
    const u = new URL(location.href);
    u.searchParams.delete('lang');
    history.replaceState(null, '', u);
  }
  setLang(next);
  document.title = t('console.title');
}

onLangChange(() => {
  if (session.user) renderShell();
  else renderLogin();
});

// ---- routing ------------------------------------------------------------------------

/** `#/timetable?room=3` → {view: 'timetable', params: URLSearchParams}. */
function currentRoute() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  const allowed = NAV.filter((n) => !n.admin || isAdmin()).map((n) => n.id);
  const view = allowed.includes(path) ? path : allowed[0];
  return { view, params: new URLSearchParams(query) };
}

/** Goes to a view (with optional params); the hash change re-renders. */
export function navigate(view, params = {}) {
  const q = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ''));
  const next = `#/${view}${[...q].length ? `?${q}` : ''}`;
  if (location.hash === next) mountView();
  else location.hash = next;
}

window.addEventListener('hashchange', () => { if (session.user) mountView(); });

// ---- sign-in -------------------------------------------------------------------------

function renderLogin(message) {
  if (cleanup) { cleanup(); cleanup = null; }
  if (events) { events.close(); events = null; }
  liveCalls.reset();
  document.body.classList.add('at-login');
  document.querySelector('.toasts')?.replaceChildren();
  const errors = formError();
  if (message) errors.show(message);
  // Which school this console is, when the address names one.
  const school = h('p', { class: 'login-school', 'data-testid': 'login-school', hidden: true });
  schoolName().then((name) => { if (name) { school.textContent = name; school.hidden = false; } });
  const username = h('input', { class: 'input', name: 'username', autocomplete: 'username', required: true, 'data-testid': 'login-username' });
  const password = h('input', { class: 'input', name: 'password', type: 'password', autocomplete: 'current-password', required: true, 'data-testid': 'login-password' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', 'data-testid': 'login-submit' }, t('login.submit'));
  const form = h('form', {
    class: 'login-card', 'data-testid': 'login',
    onsubmit: async (e) => {
      e.preventDefault();
      errors.clear();
      submit.disabled = true;
      try {
        // The console keeps the bearer token; no session cookie (nothing here uses it).
        const res = await api('POST', '/api/v1/auth/login', { body: { username: username.value.trim(), password: password.value, cookie: false } });
        if (!['admin', 'teacher'].includes(res.user.role)) {
          await api('POST', '/api/v1/auth/logout', { token: res.token }).catch(() => {});
          errors.show(t('login.staff_only'));
          return;
        }
        setToken(res.token);
        session.user = res.user;
        await start();
      } catch (err) {
        errors.show(err instanceof ApiError && err.status === 401 ? t('login.wrong') : errorText(err));
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('div', { class: 'login-brand' }, h('span', { class: 'brand-mark' }, icon('door')), h('span', { class: 'brand-name', text: t('brand') })),
  school,
  h('h1', { class: 'login-title', text: t('login.title') }),
  h('p', { class: 'login-sub', text: t('login.sub') }),
  h('label', { class: 'field' }, h('span', { class: 'field-label', text: t('login.username') }), username),
  h('label', { class: 'field' }, h('span', { class: 'field-label', text: t('login.password') }), password),
  errors.el,
  submit);
  setChildren(root, h('div', { class: 'login-page' },
    form,
    h('button', { type: 'button', class: 'lang-link', 'data-testid': 'lang-switch', onclick: toggleLang }, icon('globe'), h('span', { text: t('lang.switch') }))));
  setTimeout(() => username.focus(), 0);
}

async function signOut() {
  const token = session.token;
  setToken(null);
  session.user = null;
  invalidate();
  if (token) api('POST', '/api/v1/auth/logout', { token }).catch(() => {});
  renderLogin();
}

session.onExpired = () => {
  session.user = null;
  invalidate();
  renderLogin(t('login.expired'));
};

// ---- the shell ------------------------------------------------------------------------

let navEl = null;
let viewRoot = null;
/** The signed-in teacher's urgent alerts, over every view until acknowledged. */
const alerts = createAlerts();

function renderShell() {
  document.body.classList.remove('at-login');
  const user = session.user;
  navEl = h('nav', { class: 'nav', 'aria-label': t('nav.label') },
    NAV.filter((n) => !n.admin || isAdmin()).map((n) => h('a', {
      href: `#/${n.id}`, class: 'nav-item', 'data-testid': `nav-${n.id}`, 'data-view': n.id,
    }, icon(n.icon), h('span', { text: t(`nav.${n.id}`) }),
    n.id === 'calls' ? h('span', { class: 'nav-badge', 'data-testid': 'nav-calls-count', hidden: true }) : null)));
  viewRoot = h('main', { class: 'view', 'data-testid': 'view' });
  setChildren(root, h('div', { class: 'shell' },
    h('aside', { class: 'sidebar' },
      h('div', { class: 'brand' }, h('span', { class: 'brand-mark' }, icon('door')),
        h('div', { class: 'brand-text' }, h('span', { class: 'brand-name', text: t('brand') }), h('span', { class: 'brand-sub', text: t('console.sub') }))),
      navEl,
      h('div', { class: 'sidebar-foot' },
        h('div', { class: 'me', 'data-testid': 'me' }, avatar(user.display_name),
          h('div', { class: 'me-text' }, h('span', { class: 'me-name', text: user.display_name }), h('span', { class: 'me-role', text: t(`role.${user.role}`) }))),
        h('div', { class: 'foot-actions' },
          h('button', { type: 'button', class: 'foot-btn', 'data-testid': 'lang-switch', onclick: toggleLang, title: t('lang.switch.label') }, icon('globe'), h('span', { text: t('lang.switch') })),
          h('button', { type: 'button', class: 'foot-btn', 'data-testid': 'logout', onclick: signOut }, icon('logout'), h('span', { text: t('login.signout') }))))),
    h('div', { class: 'main-col' }, alerts.el, viewRoot)));
  alerts.draw();
  drawCallCount();
  mountView();
}

/** The number of calls going on, beside "Calls" in the navigation (from any view). */
function drawCallCount() {
  const badge = navEl?.querySelector('[data-testid="nav-calls-count"]');
  if (!badge) return;
  const n = liveCalls.count;
  badge.hidden = n === 0;
  badge.textContent = String(n);
  badge.title = t('calls.nav_count', { n });
}
liveCalls.subscribe(drawCallCount);

async function mountView() {
  if (!viewRoot) return;
  const { view, params } = currentRoute();
  for (const a of navEl.querySelectorAll('.nav-item')) a.classList.toggle('active', a.dataset.view === view);
  if (cleanup) { try { cleanup(); } catch (err) { console.error(err); } cleanup = null; }
  const seq = ++mountSeq;
  document.querySelector('.toasts')?.replaceChildren(); // they spoke of the view we left
  const el = h('div', { class: 'view-inner', 'data-view': view });
  setChildren(viewRoot, el);
  viewRoot.dataset.view = view;
  try {
    const mod = await import(`./views/${view}.js`);
    if (seq !== mountSeq) return;
    cleanup = mod.mount(el, { params, navigate, onEvent }) || null;
  } catch (err) {
    console.error(err);
    if (seq === mountSeq) setChildren(el, h('p', { class: 'error-box', text: t('error.generic') }));
  }
}

/** Subscribes to live events (`type` or '*'); returns an unsubscribe function. */
function onEvent(type, cb) {
  const entry = { type, cb };
  listeners.add(entry);
  return () => listeners.delete(entry);
}

function startEvents() {
  if (events) events.close();
  events = openEvents({
    token: session.token,
    onEvent: (frame) => {
      if (frame.type === 'message.urgent' || frame.type === 'resync') alerts.load();
      if (frame.type === 'alert.acknowledged') alerts.remove(frame.data?.alert_id);
      liveCalls.onFrame(frame);
      for (const l of listeners) if (l.type === '*' || l.type === frame.type || (frame.type === 'resync')) l.cb(frame);
    },
    onAuthError: () => {},
  });
}

async function start() {
  try {
    if (!session.user) session.user = (await call('GET', '/api/v1/me')).user;
    if (!['admin', 'teacher'].includes(session.user.role)) {
      setToken(null);
      session.user = null;
      applyLang();
      renderLogin(t('login.staff_only'));
      return;
    }
    session.settings = await call('GET', '/api/v1/settings').catch(() => session.settings);
  } catch (err) {
    if (!session.user) {
      applyLang();
      renderLogin(err instanceof ApiError && err.status === 401 ? t('login.expired') : errorText(err));
      return;
    }
  }
  const before = getLang();
  applyLang();
  if (getLang() === before) renderShell(); // otherwise the language listener rendered it
  startEvents();
  alerts.load();
  liveCalls.load();
}

/** Settings changed (language, zone): re-apply. */
export function settingsChanged(next) {
  session.settings = next;
  const before = getLang();
  applyLang();
  if (getLang() === before) toast(t('settings.saved'), { kind: 'success' });
}

applyLang();
if (session.token) start();
else renderLogin();

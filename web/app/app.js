// The family app (`/app`): the guardian's call terminal, also used by teachers and staff
// for their own conversations.
//
// Screens: login; then the conversation list (with the child card for guardians) and a
// thread. On a phone one of the two fills the screen (the thread is `#/c/<id>`, so the
// phone's back gesture returns to the list); on a wide screen they sit side by side.
// Live events keep everything current; a `resync` or a reconnect reloads from REST.

import { api, ApiError, at, SCHOOL_BASE } from '/common/api.js';
import { openEvents } from '/common/events.js';
import { h } from '/common/dom.js';
import { t, setLang, onLangChange, resolveLang } from '/common/i18n.js';
import './strings.js';
import {
  state, on, emit, loadSession, saveSession, clearSession, loadCache, me, token, isGuardian,
  saveSettings, saveChildren, saveConvs, saveThread, upsertMessages, applyStatus, readPref, writePref, compareMessages,
} from './state.js';
import { send, restoreOutbox, retryAll } from './send.js';
import { forgetMedia } from './media.js';
import { createLogin } from './login.js';
import { createHome, arrivalLine } from './home.js';
import { createThread } from './thread.js';
import { createAlerts } from './alerts.js';
import { createNoticeFeed } from './notices.js';
import { beep } from './ui.js';
import { onCallEvent } from './calls.js';
import { forgetThisDevice, rememberLangForNotifications } from './push.js';
import { icon } from '/common/icons.js';
import { configureUi, confirmDialog, toast } from '/common/ui.js';

const CHILDREN_REFRESH_MS = 60_000;
const OFFLINE_GRACE_MS = 2500;
const query = new URLSearchParams(location.search);

// The app's questions are short and thumb-sized: no × in their head, and the answer the
// person came for has the focus.
configureUi({ toasts: { ms: 4000, errorMs: 4000 }, dialogs: { closeButton: false, focusConfirm: true } });

// The service worker's scope is /app/; make the address fall inside it.
// A school's app (under /s/{slug}/) installs as that school's: its manifest's start and
// scope are relative to where it is fetched from.
if (SCHOOL_BASE) document.querySelector('link[rel=manifest]')?.setAttribute('href', at('/app/manifest.webmanifest'));
if (location.pathname === at('/app')) history.replaceState(history.state, '', `${at('/app/')}${location.search}${location.hash}`);

const root = document.getElementById('app');
const wide = matchMedia('(min-width: 900px)');

// ---- language ---------------------------------------------------------------------------

function applyLang() {
  const pref = query.get('lang') || readPref('lang', 'auto');
  const applied = setLang(pref !== 'auto' ? pref : resolveLang(state.settings.language || 'auto'));
  // Notifications shown while the app is closed speak the same language.
  rememberLangForNotifications();
  return applied;
}

/** A language picked by hand: kept on the phone, and it overrides `?lang=` from now on. */
function chooseLang(pref) {
  writePref('lang', pref);
  if (query.has('lang')) {
    query.delete('lang');
    const rest = query.toString();
    history.replaceState(history.state, '', `${location.pathname}${rest ? `?${rest}` : ''}${location.hash}`);
  }
  applyLang();
}

// ---- screens ----------------------------------------------------------------------------

const login = createLogin({
  onLoggedIn: (res) => {
    saveSession({ token: res.token, user: res.user });
    startMain();
  },
  onToggleLang: () => chooseLang(document.documentElement.lang === 'zh-CN' ? 'en' : 'zh-CN'),
});

const connBanner = h('div', { class: 'conn-banner', role: 'status', 'data-testid': 'offline', hidden: true });
// Staff keep their urgent alerts until they acknowledge them; the count is the app badge.
const urgentAlerts = createAlerts({
  onOpen: (fromId) => startConversation(fromId),
  onError: (err) => handleError(err),
  onCount: (n) => {
    document.body.dataset.alerts = String(n);
    if ('setAppBadge' in navigator) (n ? navigator.setAppBadge(n) : navigator.clearAppBadge()).catch(() => {});
  },
});
const isStaff = () => ['teacher', 'admin'].includes(me()?.role);

// The school's notices for the whole school and the reader's children's classes.
const noticeFeed = createNoticeFeed({ onError: (err) => handleError(err) });

const home = createHome({
  feed: noticeFeed,
  onOpen: (id) => navigate(id),
  onStart: startConversation,
  onLogout: () => logout(),
  onLanguage: (pref) => chooseLang(pref),
});

const threadView = createThread({
  onBack: () => back(),
  onSend: (m) => send(m),
  onError: (err) => handleError(err),
  isVisible: () => document.body.dataset.view === 'thread' || wide.matches,
});
const placeholder = h('div', { class: 'thread-placeholder' }, icon('pen'));
const threadPane = h('div', { class: 'pane pane-thread' }, placeholder);
const main = h('div', { class: 'main', 'data-testid': 'main' },
  h('div', { class: 'pane pane-list' }, home.el),
  threadPane);
const shell = h('div', { class: 'shell' }, connBanner, urgentAlerts.el, main);

let events = null;
let childTimer = null;
let offlineTimer = null;

function show(screen) {
  root.replaceChildren(screen === 'login' ? login.el : shell);
  document.body.dataset.screen = screen;
}

function showLogin(messageKey = null) {
  show('login');
  document.body.dataset.view = 'list';
  login.draw(messageKey);
  // On a phone the keyboard would cover the page at once: focus only where it does not.
  if (matchMedia('(pointer: fine)').matches) login.focus();
}

function startMain() {
  loadCache();
  applyLang();
  show('main');
  home.draw();
  route();
  restoreOutbox();
  refreshAll();
  connectEvents();
  clearInterval(childTimer);
  childTimer = setInterval(() => {
    if (document.hidden) return;
    refreshChildren();
    noticeFeed.load();
  }, CHILDREN_REFRESH_MS);
}

// ---- navigation -------------------------------------------------------------------------

let pushedFromList = false;

function navigate(convId) {
  pushedFromList = document.body.dataset.view !== 'thread' && !wide.matches;
  // A `#/to/…` link is replaced by the conversation it named, so "back" does not reopen it.
  if (location.hash.startsWith('#/to/')) {
    pushedFromList = false;
    history.replaceState(null, '', `${location.pathname}${location.search}#/c/${convId}`);
    return route();
  }
  if (location.hash !== `#/c/${convId}`) location.hash = `#/c/${convId}`;
  else route();
}

function back() {
  if (history.state?.fromList) history.back();
  else location.hash = '';
}

let opening = null;

function route() {
  if (!state.session) return;
  // `#/to/<user id>`: the conversation with that person (the console's alerts link here).
  const to = location.hash.match(/^#\/to\/(.+)$/);
  if (to) {
    const peer = decodeURIComponent(to[1]);
    if (opening !== peer) {
      opening = peer;
      startConversation(peer)
        .catch(() => { location.hash = ''; toast(t('contacts.not_allowed'), { kind: 'error' }); })
        .finally(() => { opening = null; });
    }
    return;
  }
  const m = location.hash.match(/^#\/c\/(.+)$/);
  const id = m ? decodeURIComponent(m[1]) : null;
  if (id && state.convs.some((c) => c.id === id)) {
    if (pushedFromList) history.replaceState({ fromList: true }, '');
    pushedFromList = false;
    state.openId = id;
    if (threadPane.firstChild !== threadView.el) threadPane.replaceChildren(threadView.el);
    document.body.dataset.view = 'thread';
    threadView.open(id);
  } else {
    state.openId = null;
    threadView.close();
    threadPane.replaceChildren(placeholder);
    document.body.dataset.view = 'list';
  }
  home.drawConvs();
}
window.addEventListener('hashchange', route);

async function startConversation(peerId) {
  let conv = state.convs.find((c) => c.peer.id === peerId);
  if (!conv) {
    const res = await api('POST', '/api/v1/conversations', { token: token(), body: { peer_id: peerId } });
    conv = res.conversation;
    if (!state.convs.some((c) => c.id === conv.id)) state.convs.push(conv);
    saveConvs();
  }
  navigate(conv.id);
}

// ---- data -------------------------------------------------------------------------------

function setOnline(online) {
  clearTimeout(offlineTimer);
  if (online) {
    state.online = true;
    connBanner.hidden = true;
    return;
  }
  state.online = false;
  // A short blip (a reconnect) does not need a banner.
  offlineTimer = setTimeout(() => {
    if (state.online) return;
    connBanner.replaceChildren(icon('wifiOff'), h('span', {}, t('conn.offline')));
    connBanner.hidden = false;
  }, OFFLINE_GRACE_MS);
}

function handleError(err) {
  if (!(err instanceof ApiError)) {
    console.error(err);
    return;
  }
  if (err.status === 401) expired();
  else if (err.status === 0) setOnline(false);
}

async function refreshSettings() {
  try {
    const settings = await api('GET', '/api/v1/settings', { token: token() });
    state.settings = { ...state.settings, ...settings };
    saveSettings();
    applyLang();
  } catch (err) {
    handleError(err);
  }
}

async function refreshChildren() {
  if (!isGuardian()) return;
  try {
    state.children = await api('GET', '/api/v1/children', { token: token() });
    saveChildren();
    home.drawChildren();
    threadView.drawHeader();
  } catch (err) {
    handleError(err);
  }
}

let childrenDue = null;
/** A child reads four messages at once: four `read` statuses, one refresh of the children. */
function refreshChildrenSoon() {
  if (!isGuardian() || childrenDue) return;
  childrenDue = setTimeout(() => {
    childrenDue = null;
    refreshChildren();
  }, 100);
}

async function refreshConvs() {
  try {
    const convs = await api('GET', '/api/v1/conversations', { token: token() });
    state.convs = convs;
    saveConvs();
    setOnline(true);
    home.drawConvs();
    if (state.openId || location.hash) route();
  } catch (err) {
    handleError(err);
  }
}

function refreshAlerts() {
  if (isStaff()) urgentAlerts.load();
}

function refreshAll() {
  refreshSettings();
  refreshChildren();
  refreshAlerts();
  noticeFeed.load();
  return refreshConvs();
}

// ---- live events ------------------------------------------------------------------------

function connectEvents() {
  events?.close();
  events = openEvents({
    token: token(),
    onEvent,
    onStatus: (status, { first }) => {
      document.body.dataset.live = status;
      if (status === 'connected') {
        setOnline(true);
        if (!first) refreshAll();
        retryAll();
      } else {
        setOnline(false);
      }
    },
    onAuthError: () => expired(),
  });
}

function onEvent({ type, data }) {
  if (onCallEvent(type, data)) return;
  if (type === 'message.new' && data.message) {
    if (data.recipient_quiet) setPeerQuiet(data.message.conversation_id, data.recipient_quiet);
    return onMessage(data.message, { quiet: data.quiet === true });
  }
  if (type === 'child.arrived') return onArrival(data);
  if (type === 'message.status') {
    const convId = applyStatus(data);
    if (convId) {
      saveThread(convId);
      if (convId === state.openId) threadView.render();
      home.drawConvs();
    }
    // A message shown at a doorplate means the child just arrived somewhere; one read
    // means the child's "not read yet" count (card and thread header) went down.
    if (data.status === 'notified' || data.status === 'read') refreshChildrenSoon();
    return;
  }
  if (type === 'presence.changed') return refreshChildren();
  if (type === 'message.urgent') {
    beep();
    return urgentAlerts.add(data);
  }
  if (type === 'alert.acknowledged') return urgentAlerts.remove(data.alert_id);
  if (type === 'resync') refreshAll();
}

/** A child checked in: a toast now, and the line on the child's card. */
function onArrival(a) {
  state.arrivals[a.student_id] = a;
  toast(arrivalLine(a), { kind: 'info', ms: 8000 });
  refreshChildren();
  home.drawChildren();
}

/** The peer's quiet hours as the server last said (null: not quiet). */
function setPeerQuiet(convId, quiet) {
  const conv = state.convs.find((c) => c.id === convId);
  if (!conv || JSON.stringify(conv.peer.quiet || null) === JSON.stringify(quiet)) return;
  if (quiet) conv.peer.quiet = quiet;
  else delete conv.peer.quiet;
  saveConvs();
  if (convId === state.openId) threadView.drawHeader();
}

/** A new message; `quiet`: it came inside the reader's quiet hours, so no sound. */
function onMessage(m, { quiet = false } = {}) {
  const mine = m.sender_id === me()?.id;
  upsertMessages(m.conversation_id, [m]);
  saveThread(m.conversation_id);
  const conv = state.convs.find((c) => c.id === m.conversation_id);
  if (!conv) {
    refreshConvs();
  } else {
    if (!conv.last || compareMessages(conv.last, m) <= 0) conv.last = m;
    const reading = m.conversation_id === state.openId && threadView.el.isConnected && !document.hidden
      && (document.body.dataset.view === 'thread' || wide.matches);
    if (!mine && !reading) conv.unread = (conv.unread || 0) + 1;
    saveConvs();
  }
  if (!mine && !quiet) beep();
  // A message between a guardian and their child moves the child's "not read yet".
  if (isGuardian() && conv?.peer.role === 'student') refreshChildrenSoon();
  if (m.conversation_id === state.openId) threadView.render();
  home.drawConvs();
}

// ---- app-wide state changes -------------------------------------------------------------

on('quiet', ({ conversation_id, quiet }) => setPeerQuiet(conversation_id, quiet));
on('outbox', (convId) => {
  if (convId === state.openId) threadView.render();
});
on('progress', (entry) => threadView.progress(entry));
on('sent', (m) => {
  const conv = state.convs.find((c) => c.id === m.conversation_id);
  if (conv && (!conv.last || compareMessages(conv.last, m) <= 0)) conv.last = m;
  setOnline(true);
  saveConvs();
  home.drawConvs();
});
on('connection', () => { if (!state.online) setOnline(false); });
on('convs', () => home.drawConvs());
on('unauthorized', () => expired());
on('send-failed', (err) => {
  // Say why in words; the bubble keeps its "retry" in case it was a passing problem.
  const key = err?.status === 413 ? 'error.too_large'
    : err?.status === 403 ? 'error.forbidden'
      : err?.code === 'unsupported_media' ? 'composer.unsupported'
        : 'error.send';
  toast(t(key), { kind: 'error', ms: 6000 });
});

onLangChange(() => {
  if (document.body.dataset.screen === 'login') login.draw();
  else {
    home.draw();
    threadView.translate();
    urgentAlerts.draw();
    if (!connBanner.hidden) connBanner.replaceChildren(icon('wifiOff'), h('span', {}, t('conn.offline')));
  }
  document.title = t('app.name');
});

document.addEventListener('visibilitychange', () => {
  if (document.hidden || !state.session) return;
  threadView.markRead();
  refreshChildren();
});

function stopMain() {
  events?.close();
  events = null;
  clearInterval(childTimer);
  forgetMedia();
  urgentAlerts.clear();
  state.arrivals = {};
  noticeFeed.clear();
  document.body.dataset.live = '';
  location.hash = '';
}

function expired() {
  if (!state.session) return;
  stopMain();
  clearSession();
  showLogin('error.session');
}

async function logout() {
  const ok = await confirmDialog({ title: t('menu.logout'), text: t('menu.logout.confirm'), confirm: t('menu.logout'), testid: 'logout-dialog' });
  if (!ok) return;
  const bearer = token();
  stopMain();
  clearSession();
  showLogin();
  // The server removes this phone's subscription with the login; the browser forgets it.
  api('POST', '/api/v1/auth/logout', { token: bearer }).catch(() => {}).finally(() => forgetThisDevice());
}

// ---- start ------------------------------------------------------------------------------

applyLang();
document.title = t('app.name');
if (loadSession()?.token) startMain();
else showLogin();

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register(at('/app/sw.js'), { scope: at('/app/') }).catch((err) => console.warn('no offline support', err));
  // A tapped notification (sw.js) opens its conversation here.
  navigator.serviceWorker.addEventListener('message', (event) => {
    const hash = event.data?.type === 'open' ? event.data.hash : null;
    if (typeof hash === 'string' && /^#\/(c\/\d+)?$/.test(hash)) location.hash = hash;
  });
  navigator.serviceWorker.startMessages();
}

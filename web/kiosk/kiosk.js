// The doorplate kiosk: pairing, the room's signage and present list on the device's own
// account (R7, R3), proofs at the door (check in, my messages, check out), and the
// personal session of whoever proved themselves last (R4, R5, R9).
//
// What the page keeps: the device token in localStorage (the device's identity) and, in
// memory only, the room's state. A personal session lives in its own closure and DOM and
// is dropped whole when it ends; a student who leaves is dropped from memory at once (R6).

import { api, ApiError, schoolKey } from '/common/api.js';
import { openEvents } from '/common/events.js';
import { h, setChildren } from '/common/dom.js';
import { t, setLang, getLang, onLangChange, translateDom } from '/common/i18n.js';
import './strings.js';
import { icon } from '/common/icons.js';
import { configureUi, toast, clearToasts } from '/common/ui.js';
import { listenForReader, credentialFromScan } from './reader.js';
import { openProofSheet, credentialKind, refusesCredential, proofErrorText } from './proof.js';
import { createBand, createNotices } from './signage.js';
import { createPresentList } from './present.js';
import { chime, unlockAudio } from './chime.js';
import { openSession } from './session.js';
import { openTeacher } from './teacher.js';
import { openPairing } from './pairing.js';
import { loadImage, reportBuild, runCommand } from './fleet.js';
import { createKioskCalls } from './calls.js';

const TOKEN_KEY = schoolKey('doorplate.device_token');
const LANG_REVERT_MS = 3 * 60_000;
const REFRESH_EVERY_MS = 5 * 60_000;
const query = new URLSearchParams(location.search);
const urlLang = query.get('lang');

// Toasts at the door are big and stay long enough to read from a step away.
configureUi({ toasts: { ms: 4500, errorMs: 7000 } });

// ---- state (memory only) ------------------------------------------------------------

// A provisioning link (`/kiosk#device=<token>`, printed by `doorplate demo`) pairs this
// screen at once; the token leaves the address bar straight away.
const linked = new URLSearchParams(location.hash.slice(1)).get('device');
if (linked && linked.startsWith('dpd_')) {
  localStorage.setItem(TOKEN_KEY, linked);
  history.replaceState(null, '', location.pathname + location.search);
}
let deviceToken = localStorage.getItem(TOKEN_KEY);
let settings = { language: 'auto', timezone: undefined, session_idle_seconds: 60 };
const info = { doorplate: null, room: null, current: null, next: null, notices: [] };
/** user id → {user_id, display_name, unread, since, source, urgent, hintOrder, joinOrder} */
const present = new Map();
let order = 0;
let deviceEvents = null;
let sheet = null;
let personal = null;
let submitting = false;
let wasQuiet = false;
let manualLang = false;
let langTimer = null;
let boundaryTimer = null;
let refreshTimer = null;
let retryTimer = null;
let retryDelay = 1000;
let refreshing = null;
let refreshAgain = false;
/** The kiosk build this page was loaded with (from its first state): what it reports. */
let loadedBuild = null;

/** How far the school's clock is ahead of this screen's (ms), from the last state. */
let clockOffset = 0;
/** Now on the school's clock: what the periods and their boundaries are measured by. */
const schoolNow = () => Date.now() + clockOffset;
// At most this long between looks at the periods, whatever the boundaries say: a
// missed boundary (a timer that fired early, a clock that jumped) is fixed within it.
const BOUNDARY_CHECK_MS = 60_000;
// A boundary that has passed but the answer does not show yet: ask again this soon.
const STALE_RETRY_MS = 1000;

const quiet = () => info.current?.kind === 'exam';
const zone = () => settings.timezone || undefined;

// ---- the page -----------------------------------------------------------------------

const app = document.getElementById('app');
const roomView = h('div', { class: 'room-view', 'data-testid': 'room', hidden: true });
const band = h('header', { class: 'band', 'data-testid': 'band' });
const tilesBox = h('div', { class: 'tiles', 'data-testid': 'present-list', role: 'list' });
const presentTitle = h('h2', { class: 'present-title' });
const presentEmpty = h('p', { class: 'present-empty', 'data-testid': 'present-empty' });
const examHold = h('p', { class: 'exam-hold', 'data-testid': 'exam-hold', hidden: true });
const noticesBox = h('aside', { class: 'notices', 'data-testid': 'notices' });
const overlayRoot = h('div', { class: 'overlay-root' });
const personalRoot = h('div', { class: 'personal-root' });

const barButton = (action, iconName, cls) => h('button', {
  type: 'button', class: `bar-btn ${cls}`, 'data-testid': `btn-${action}`, onclick: () => openProof(action),
}, icon(iconName), h('span', { class: 'bar-label', 'data-i18n': `action.${action}` }));
const langButton = h('button', {
  type: 'button', class: 'lang-btn', 'data-testid': 'lang-switch', onclick: toggleLang,
  'data-i18n-attr': 'aria-label:lang.switch.label',
}, icon('globe'), h('span', { 'data-i18n': 'lang.switch' }));

roomView.append(
  band,
  h('main', { class: 'middle' },
    h('section', { class: 'present' },
      h('div', { class: 'present-head' }, presentTitle, examHold),
      h('div', { class: 'tiles-scroll' }, tilesBox, presentEmpty)),
    noticesBox),
  h('footer', { class: 'bar' },
    h('div', { class: 'bar-actions' },
      barButton('checkin', 'login', 'checkin'),
      barButton('messages', 'messages', 'messages primary'),
      barButton('checkout', 'logout', 'checkout')),
    langButton));
app.append(roomView, overlayRoot, personalRoot);

const bandView = createBand(band);
const notices = createNotices(noticesBox, { loadImage: (url) => loadImage(url, deviceToken) });
const tiles = createPresentList(tilesBox, {
  onTap: (userId) => openProof('messages', present.get(userId)?.display_name),
});

// ---- language -----------------------------------------------------------------------

function baseLang() {
  return urlLang || settings.language || 'auto';
}

function toggleLang() {
  manualLang = true;
  setLang(getLang() === 'zh-CN' ? 'en' : 'zh-CN');
  armLangRevert();
}

/** A student's switch is for them: the school's language comes back when the screen idles. */
function armLangRevert() {
  clearTimeout(langTimer);
  if (!manualLang) return;
  langTimer = setTimeout(() => {
    if (personal || sheet) { armLangRevert(); return; }
    manualLang = false;
    setLang(baseLang());
  }, LANG_REVERT_MS);
}

onLangChange(() => {
  document.title = t('brand');
  translateDom(app);
  renderAll();
  notices.refresh();
  bandView.setConnection(band.querySelector('.conn').dataset.state);
});

// ---- rendering ----------------------------------------------------------------------

function renderAll() {
  bandView.update(info, zone(), schoolNow());
  renderPresent();
}

function renderPresent() {
  const entries = [...present.values()];
  tiles.render(entries, { quiet: quiet(), zone: zone() });
  setChildren(presentTitle, h('span', { text: t('present.title') }),
    entries.length ? h('span', { class: 'present-count', 'data-testid': 'present-count', text: String(entries.length) }) : '');
  presentEmpty.hidden = entries.length > 0;
  presentEmpty.textContent = t('present.empty');
  const held = quiet() && entries.some((e) => e.unread > 0);
  examHold.hidden = !quiet();
  examHold.textContent = held ? t('exam.held') : t('exam.quiet_short');
  roomView.classList.toggle('few', entries.length <= 6);
  if (personal?.presentChanged) personal.presentChanged();
}

// ---- state from the server ----------------------------------------------------------

async function loadSettings() {
  try {
    const s = await api('GET', '/api/v1/settings', { token: deviceToken });
    if (s && typeof s === 'object') settings = { ...settings, ...s };
  } catch { /* keep what we had */ }
  if (!manualLang) setLang(baseLang());
  return settings;
}

/** Re-reads the room's state; coalesces calls that come while one is in flight. */
function refreshState() {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    try {
      do {
        refreshAgain = false;
        const askedAt = Date.now();
        const state = await api('GET', '/api/v1/doorplate/state', { token: deviceToken });
        const serverNow = Date.parse(state?.now);
        if (Number.isFinite(serverNow)) clockOffset = serverNow - (askedAt + Date.now()) / 2;
        applyState(state, askedAt);
      } while (refreshAgain);
      retryDelay = 1000;
      clearTimeout(retryTimer);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        unpair();
      } else {
        bandView.setConnection('reconnecting');
        clearTimeout(retryTimer);
        retryTimer = setTimeout(refreshState, retryDelay);
        retryDelay = Math.min(10_000, retryDelay * 2);
      }
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

function applyState(state, askedAt) {
  if (!loadedBuild && state.kiosk_build) loadedBuild = state.kiosk_build;
  info.doorplate = state.doorplate || info.doorplate;
  info.room = state.room || null;
  info.current = state.current || null;
  info.next = state.next || null;
  info.notices = Array.isArray(state.notices) ? state.notices : [];

  // Merge the present list: keep the hint order we know; the server's order breaks ties.
  const list = Array.isArray(state.present) ? state.present : [];
  const seen = new Set();
  for (const p of list) {
    seen.add(p.user_id);
    const old = present.get(p.user_id);
    const unread = Number(p.unread) || 0;
    present.set(p.user_id, {
      user_id: p.user_id,
      display_name: p.display_name,
      since: p.since,
      source: p.source,
      unread,
      urgent: unread > 0 && Boolean(p.urgent ?? old?.urgent),
      hintOrder: unread > 0 ? (old && old.unread > 0 ? old.hintOrder : ++order) : 0,
      joinOrder: old?.joinOrder ?? ++order,
    });
  }
  for (const id of [...present.keys()]) if (!seen.has(id)) forget(id);
  // The server says whose session it hosts (if it tells): one it no longer hosts is over.
  // Only an answer asked after the session opened can say so.
  if (personal && 'session_user_id' in state && askedAt > personal.openedAt
      && state.session_user_id !== personal.userId) {
    endPersonal('ended', { revoke: false });
  }

  const isQuiet = quiet();
  if (wasQuiet && !isQuiet && [...present.values()].some((e) => e.unread > 0)) chime();
  wasQuiet = isQuiet;

  renderAll();
  notices.update(info.notices, info.room?.name || '');
  scheduleBoundary();
}

/**
 * Refreshes when the current period ends or the next starts, so the band turns by itself.
 * Times are the school's (this screen's clock may be off by seconds or minutes: timing
 * by it once refreshed just before the boundary and then waited for a boundary already
 * "past", keeping the ended period on screen). An answer that still shows a boundary
 * as ahead when it has passed is asked again shortly; and the band is looked at every
 * minute in any case.
 */
function scheduleBoundary() {
  clearTimeout(boundaryTimer);
  const now = schoolNow();
  const times = [info.current?.ends_at, info.next?.starts_at]
    .map((x) => Date.parse(x)).filter((x) => Number.isFinite(x));
  const stale = times.some((x) => x <= now);
  const ahead = times.filter((x) => x > now);
  let wait = ahead.length ? Math.min(...ahead) - now + 1500 : BOUNDARY_CHECK_MS;
  if (stale) wait = STALE_RETRY_MS;
  boundaryTimer = setTimeout(refreshState, Math.max(0, Math.min(wait, BOUNDARY_CHECK_MS)));
}

/** R6: a student who leaves is dropped at once, and their personal session with them. */
function forget(userId) {
  present.delete(userId);
  if (personal && personal.userId === userId) endPersonal('left');
}

// ---- live events on the device's account --------------------------------------------

function startDeviceEvents() {
  if (deviceEvents) deviceEvents.close();
  deviceEvents = openEvents({
    token: deviceToken,
    onStatus: (status) => {
      bandView.setConnection(status);
      // On every (re)connection, reload: cheap, and it covers what no replay can. And
      // say which build this page runs, for the console's fleet list.
      if (status === 'connected') refreshState().then(() => reportBuild(deviceToken, loadedBuild));
    },
    onAuthError: () => unpair(),
    onEvent: onDeviceEvent,
  });
}

function onDeviceEvent({ type, data }) {
  switch (type) {
    case 'call.ringing':
    case 'call.ring_ended':
      kioskCalls.onDeviceEvent(type, data);
      break;
    case 'doorplate.command':
      runCommand(data, { name: info.doorplate?.name, room: info.room?.name });
      break;
    case 'presence.joined': {
      const old = present.get(data.user_id);
      const unread = Number(data.unread ?? old?.unread ?? 0);
      present.set(data.user_id, {
        user_id: data.user_id,
        display_name: data.display_name || old?.display_name || '',
        since: data.since || old?.since,
        source: data.source || old?.source,
        unread,
        urgent: Boolean(old?.urgent),
        hintOrder: unread > 0 ? (old?.unread > 0 ? old.hintOrder : ++order) : 0,
        joinOrder: old?.joinOrder ?? ++order,
      });
      renderPresent();
      if (unread > 0 && !(old?.unread > 0) && !quiet()) chime();
      break;
    }
    case 'presence.left':
      if (present.has(data.user_id) || personal?.userId === data.user_id) {
        forget(data.user_id);
        renderPresent();
      }
      break;
    case 'notify.new_message': {
      const old = present.get(data.user_id);
      const unread = Number(data.unread) || 0;
      const entry = old || {
        user_id: data.user_id, display_name: data.display_name || '', since: new Date().toISOString(),
        source: 'active', joinOrder: ++order,
      };
      if (!entry.display_name && data.display_name) entry.display_name = data.display_name;
      const grew = unread > (old?.unread || 0);
      entry.hintOrder = unread > 0 ? (old?.unread > 0 ? old.hintOrder : ++order) : 0;
      entry.urgent = unread > 0 && (Boolean(data.urgent) || (Boolean(old?.urgent) && old?.unread > 0));
      entry.unread = unread;
      if (!entry.display_name) {
        // A hint for someone we have not seen join: the state has their name.
        refreshState();
        break;
      }
      present.set(data.user_id, entry);
      renderPresent();
      if (grew && !quiet()) chime({ urgent: Boolean(data.urgent) });
      break;
    }
    case 'session.ended':
      onSessionEnded(data.user_id, data.reason);
      break;
    case 'signage.updated':
    case 'schedule.changed':
    case 'resync':
      refreshState();
      if (type === 'signage.updated') loadSettings().then(() => renderAll());
      break;
    default:
      break;
  }
}

function onSessionEnded(userId, reason) {
  if (!personal) return;
  if (userId && personal.userId !== userId) return;
  // Replaced by a newer proof: that proof was made here, and this page already switched.
  if (reason === 'replaced') return;
  // The same person proving again ends their own earlier session: that event must not
  // close the session just opened. Ask the server whether ours still stands.
  if (Date.now() - personal.openedAt < 5000) {
    const mine = personal;
    api('GET', '/api/v1/me', { token: mine.token }).catch((err) => {
      if (err instanceof ApiError && err.status === 401 && personal === mine) endPersonal('ended');
    });
    return;
  }
  endPersonal('ended');
}

// ---- proofs -------------------------------------------------------------------------

/**
 * Opens the proof sheet. The room's buttons do nothing while a personal session is open;
 * a call's "Answer" (`overSession`) opens it over the session, since the child the call
 * is for proves themselves there — which replaces the open session, as any proof does.
 */
function openProof(action, forName, { overSession = false, onClose, purpose } = {}) {
  unlockAudio();
  if (personal && !overSession) return;
  if (sheet) sheet.close();
  clearToasts();
  loadSettings();
  const mine = openProofSheet(overlayRoot, {
    action,
    forName,
    purpose,
    onCredential: (credential) => submit(action, credential),
    onClose: () => {
      if (sheet === mine) sheet = null;
      onClose?.();
    },
  });
  sheet = mine;
}

function closeSheet() {
  if (sheet) sheet.close();
  sheet = null;
}

function onScan(text) {
  if (!deviceToken) {
    // Not paired yet: a scanned pairing code fills the field.
    pairView?.fill(text);
    return;
  }
  const credential = credentialFromScan(text);
  if (sheet) { submit(sheet.action, credential); return; }
  if (personal) { submit('messages', credential); return; }
  // A swipe with no sheet open means "My messages".
  openProof('messages');
  submit('messages', credential);
}

async function submit(action, credential) {
  if (submitting) return;
  submitting = true;
  const kind = credentialKind(credential);
  sheet?.setBusy(true);
  const settingsReady = action === 'messages' ? loadSettings() : null;
  try {
    if (action === 'checkin') {
      const res = await api('POST', '/api/v1/doorplate/checkin', { token: deviceToken, body: { credential } });
      closeSheet();
      if (res?.user) {
        const old = present.get(res.user.id);
        present.set(res.user.id, {
          user_id: res.user.id,
          display_name: res.user.display_name,
          since: res.presence?.since || old?.since || new Date().toISOString(),
          source: res.presence?.source || 'active',
          unread: Number(res.presence?.unread ?? old?.unread ?? 0),
          urgent: Boolean(old?.urgent),
          hintOrder: old?.hintOrder ?? 0,
          joinOrder: old?.joinOrder ?? ++order,
        });
        renderPresent();
        toast(t('toast.checked_in', { name: res.user.display_name }), { kind: 'ok' });
      } else {
        toast(t('toast.checked_in_anon'), { kind: 'ok' });
      }
    } else if (action === 'checkout') {
      await api('POST', '/api/v1/doorplate/checkout', { token: deviceToken, body: { credential } });
      closeSheet();
      toast(t('toast.checked_out'), { kind: 'ok' });
    } else {
      const res = await api('POST', '/api/v1/doorplate/sessions', { token: deviceToken, body: { credential } });
      await settingsReady;
      closeSheet();
      startPersonal(res);
    }
  } catch (err) {
    await handleProofError(err, action, kind);
  } finally {
    submitting = false;
    sheet?.setBusy(false);
  }
}

async function handleProofError(err, action, kind) {
  if (!(err instanceof ApiError)) {
    console.error(err);
    showProofError(t('error.generic'));
    return;
  }
  if (err.status === 401 && !refusesCredential(err)) {
    // Either the credential or this device was refused: the device token tells which.
    try {
      await api('GET', '/api/v1/doorplate/state', { token: deviceToken });
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) { unpair(); return; }
    }
  }
  if (err.status === 429) {
    const seconds = err.retryAfter ?? 30;
    if (sheet) sheet.showThrottle(seconds, (n) => t('proof.error.throttled', { n }));
    else toast(t('proof.error.throttled', { n: seconds }), { kind: 'error' });
    return;
  }
  showProofError(proofErrorText(err, action, kind));
  if (kind === 'password' && err.status === 401) sheet?.clearPassword();
}

function showProofError(text) {
  if (sheet) sheet.showError(text);
  else toast(text, { kind: 'error' });
}

// ---- personal session (student chat or teacher mode) -----------------------------------

function startPersonal(res) {
  // A new proof ends the previous session (R5); the server already ended it.
  if (personal) endPersonal('replaced', { revoke: false });
  const idleSeconds = Number(settings.session_idle_seconds) || 60;
  const isStaff = res.user && (res.user.role === 'teacher' || res.user.role === 'admin');
  const opts = { session: res, idleSeconds, onEnd: (reason) => endPersonal(reason) };
  personal = isStaff
    ? openTeacher(personalRoot, { ...opts, doorplateId: info.doorplate?.id, getPresent: () => [...present.values()].map((e) => ({ ...e })) })
    : openSession(personalRoot, { ...opts, timeZone: zone(), isQuiet: quiet, chime, onCall: (peer, video) => kioskCalls.place(personal, peer, video) });
  personal.token = res.session_token;
  kioskCalls.onSession(personal);
  clearToasts();
  document.body.classList.add('personal-open');
}

/**
 * Ends the personal session: its DOM, streams, object URLs and token go at once, and the
 * room is back. "Done" and the idle timeout also tell the server (with the device token).
 */
function endPersonal(reason, { revoke = reason === 'done' || reason === 'timeout' || reason === 'expired' } = {}) {
  if (!personal) return;
  const ending = personal;
  personal = null;
  kioskCalls.onSessionEnd();
  ending.destroy();
  ending.token = null;
  personalRoot.replaceChildren();
  document.body.classList.remove('personal-open');
  if (revoke && deviceToken) {
    api('DELETE', '/api/v1/doorplate/sessions/current', { token: deviceToken }).catch(() => {});
  }
  if (reason === 'timeout') toast(t('toast.session_timeout'));
  if (reason !== 'replaced') refreshState();
}

// ---- calls ------------------------------------------------------------------------

const kioskCalls = createKioskCalls({
  root: document.body,
  askProof: (name, onClose) => openProof('messages', name, {
    overSession: true, onClose, purpose: { title: t('call.for', { name }), prompt: t('call.answer_proof'), icon: 'phone' },
  }),
  currentSession: () => personal,
  isQuiet: quiet,
  chime,
});

// ---- pairing ------------------------------------------------------------------------

let pairView = null;

function showPairing(message) {
  roomView.hidden = true;
  if (pairView) pairView.remove();
  pairView = openPairing(app, { message, onPaired, onToggleLang: toggleLang });
}

function onPaired(res) {
  deviceToken = res.device_token;
  localStorage.setItem(TOKEN_KEY, deviceToken);
  info.doorplate = res.doorplate || null;
  pairView = null;
  startRoom();
}

/** The device token was refused: forget everything and ask for a pairing code again. */
function unpair() {
  localStorage.removeItem(TOKEN_KEY);
  deviceToken = null;
  if (deviceEvents) deviceEvents.close();
  deviceEvents = null;
  endPersonal('unpaired', { revoke: false });
  closeSheet();
  present.clear();
  tiles.clear();
  clearTimeout(boundaryTimer);
  clearTimeout(retryTimer);
  showPairing(t('pair.lost'));
}

// ---- start --------------------------------------------------------------------------

async function startRoom() {
  roomView.hidden = false;
  bandView.setConnection('connecting');
  translateDom(app);
  renderAll();
  notices.update([], '');
  await loadSettings();
  if (!deviceToken) return;
  await refreshState();
  if (!deviceToken) return;
  startDeviceEvents();
}

function boot() {
  setLang(urlLang || 'auto');
  document.title = t('brand');
  translateDom(app);
  listenForReader(onScan);
  document.addEventListener('pointerdown', () => {
    unlockAudio();
    armLangRevert();
  }, true);
  setInterval(() => bandView.tick(zone(), schoolNow()), 1000);
  clearInterval(refreshTimer);
  refreshTimer = setInterval(() => { if (deviceToken) refreshState(); }, REFRESH_EVERY_MS);
  if (deviceToken) startRoom();
  else showPairing();
}

boot();

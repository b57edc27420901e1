// The console's plumbing: the signed-in session (its token lives in localStorage), API
// calls that turn a 401 into "sign in again", friendly error sentences, small caches of
// the directory, time arithmetic in the school's zone, and a CSV parser for imports.

import { api, ApiError, schoolKey } from '/common/api.js';
import { t, has, getLang, compareNames } from '/common/i18n.js';
import { serverErrorText, englishMessageAllowed } from '/common/errors.js';

const TOKEN_KEY = schoolKey('doorplate.console.token');

/** The signed-in session: token, user and the school's settings. */
export const session = {
  token: localStorage.getItem(TOKEN_KEY),
  /** @type {{id, role, display_name, username}|null} */
  user: null,
  settings: { timezone: 'UTC', language: 'auto' },
  /** Called when the server refuses the token (the shell shows the login). */
  onExpired: () => {},
};

export function setToken(token) {
  session.token = token;
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

export const isAdmin = () => session.user?.role === 'admin';
export const zone = () => session.settings?.timezone || 'UTC';

/** Calls the API with the session's token; a 401 ends the session. */
export async function call(method, path, opts = {}) {
  try {
    return await api(method, path, { ...opts, token: session.token });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && session.token) {
      setToken(null);
      session.onExpired(err);
    }
    throw err;
  }
}

/** A sentence for the person at the screen: the server's message, or ours for network trouble. */
export function errorText(err) {
  if (err && err.name === 'UserError') return err.message;
  if (!(err instanceof ApiError)) return t('error.generic');
  if (err.status === 0) return t('error.network');
  if (err.status === 429) return t('error.throttled', { n: err.retryAfter ?? 30 });
  if (err.code && has(`err.${err.code}`)) return t(`err.${err.code}`);
  if (err.status === 404 && err.code === 'not_found' && /no such endpoint/i.test(err.message)) return t('err.not_available');
  const worded = serverErrorText(err);
  if (worded) return worded;
  // The server's own message is English: only an English reader sees it.
  if (englishMessageAllowed() && err.message && !/^HTTP \d+$/.test(err.message)) {
    const m = err.message.trim();
    return m.charAt(0).toUpperCase() + m.slice(1) + (/[.!?。！？]$/.test(m) ? '' : '.');
  }
  if (err.status === 403) return t('error.forbidden');
  if (err.status === 404) return t('error.not_found');
  if (err.status === 413) return t('error.too_large');
  return t('error.generic');
}

/** An error whose message is already a sentence for the person at the screen. */
export function userError(message) {
  const err = new Error(message);
  err.name = 'UserError';
  return err;
}

// ---- directory caches ---------------------------------------------------------------
// Names for ids (presence, audit, classes). Kept for a short while; views refresh them
// after they change something.

const caches = new Map();
const CACHE_MS = 30_000;

function cached(key, load) {
  const hit = caches.get(key);
  if (hit && Date.now() - hit.at < CACHE_MS) return hit.promise;
  const promise = load().catch((err) => { caches.delete(key); throw err; });
  caches.set(key, { at: Date.now(), promise });
  return promise;
}

export function invalidate(...keys) {
  if (!keys.length) caches.clear();
  for (const k of keys) caches.delete(k);
}

export const directory = {
  users: () => cached('users', () => call('GET', '/api/v1/users?limit=1000')),
  rooms: () => cached('rooms', () => call('GET', '/api/v1/rooms')),
  groups: () => cached('groups', () => call('GET', '/api/v1/groups')),
  doorplates: () => cached('doorplates', () => call('GET', '/api/v1/doorplates')),
  /** id → user, for names. */
  async userMap() {
    const list = await directory.users().catch(() => []);
    return new Map(list.map((u) => [u.id, u]));
  },
};

/** Sorts by display name (or name): pinyin order for Chinese names, in either language. */
export function byName(a, b) {
  return compareNames(a.display_name ?? a.name, b.display_name ?? b.name);
}

// ---- time in the school's zone ------------------------------------------------------

function partsIn(ms, timeZone) {
  const f = new Intl.DateTimeFormat('en-GB', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
  const p = Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return { y: +p.year, mo: +p.month, d: +p.day, h: +p.hour % 24, mi: +p.minute, s: +p.second };
}

/** Minutes east of UTC for the zone at an instant. */
export function zoneOffset(ms, timeZone = zone()) {
  const p = partsIn(ms, timeZone);
  const asUtc = Date.UTC(p.y, p.mo - 1, p.d, p.h, p.mi, p.s);
  return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60000);
}

/** `YYYY-MM-DD` + `HH:MM` on the school's clock → an RFC 3339 string with the zone's offset. */
export function zonedToRfc3339(date, hm, timeZone = zone()) {
  const [y, mo, d] = date.split('-').map(Number);
  const [h, mi] = hm.split(':').map(Number);
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  let off = zoneOffset(wall, timeZone);
  off = zoneOffset(wall - off * 60000, timeZone);
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  const pad = (n) => String(n).padStart(2, '0');
  return `${date}T${pad(h)}:${pad(mi)}:00${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** An instant → `{date: 'YYYY-MM-DD', hm: 'HH:MM', weekday: 1..7}` on the school's clock. */
export function instantToZoned(value, timeZone = zone()) {
  const ms = value instanceof Date ? value.getTime() : new Date(value).getTime();
  const p = partsIn(ms, timeZone);
  const pad = (n) => String(n).padStart(2, '0');
  const date = `${p.y}-${pad(p.mo)}-${pad(p.d)}`;
  const weekday = ((new Date(Date.UTC(p.y, p.mo - 1, p.d)).getUTCDay() + 6) % 7) + 1;
  return { date, hm: `${pad(p.h)}:${pad(p.mi)}`, weekday };
}

/** Today on the school's clock. */
export const today = () => instantToZoned(Date.now());

/** Adds days to a `YYYY-MM-DD`. */
export function addDays(date, n) {
  const [y, m, d] = date.split('-').map(Number);
  const x = new Date(Date.UTC(y, m - 1, d + n));
  return x.toISOString().slice(0, 10);
}

/** `HH:MM` (or `HH:MM:SS`) → minutes after midnight. */
export function minutesOf(hm) {
  const [h, m] = String(hm || '0:0').split(':').map(Number);
  return h * 60 + (m || 0);
}

export function hmOf(minutes) {
  const m = Math.max(0, Math.min(24 * 60 - 1, Math.round(minutes)));
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}

/** A short date ("24 Nov" / "11月24日") for a `YYYY-MM-DD` (a calendar date, no zone). */
export function formatDay(date, opts = { day: 'numeric', month: 'short' }) {
  if (!date) return '';
  const [y, m, d] = date.split('-').map(Number);
  return new Intl.DateTimeFormat(getLang(), { ...opts, timeZone: 'UTC' }).format(new Date(Date.UTC(y, m - 1, d)));
}

/** A date and time ("24 Nov, 09:30") of an instant, on the school's clock. */
export function formatWhen(value, { seconds = false, year = false } = {}) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return '';
  return new Intl.DateTimeFormat(getLang(), {
    timeZone: zone(), day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
    ...(seconds ? { second: '2-digit' } : {}), ...(year ? { year: 'numeric' } : {}),
  }).format(date);
}

/** "3 minutes ago" in the reader's language. */
export function formatAgo(value) {
  const ms = new Date(value).getTime();
  if (Number.isNaN(ms)) return '';
  const s = Math.round((ms - Date.now()) / 1000);
  const rtf = new Intl.RelativeTimeFormat(getLang(), { numeric: 'auto' });
  const abs = Math.abs(s);
  if (abs < 45) return t('time.now');
  if (abs < 3600) return rtf.format(Math.round(s / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(s / 3600), 'hour');
  return rtf.format(Math.round(s / 86400), 'day');
}

/** Weekday names, Monday first, in the reader's language. */
export function weekdayNames(style = 'short') {
  const f = new Intl.DateTimeFormat(getLang(), { weekday: style, timeZone: 'UTC' });
  // 2024-01-01 was a Monday.
  return Array.from({ length: 7 }, (_, i) => f.format(new Date(Date.UTC(2024, 0, 1 + i))));
}

// ---- CSV ------------------------------------------------------------------------------

/**
 * Parses CSV (RFC 4180: quotes, doubled quotes, CRLF, a leading BOM). Returns records as
 * `{line, cells}` where `line` is the 1-based line of the file the record starts on, so a
 * preview can point at the same line numbers the server reports. Blank lines are skipped.
 */
export function parseCsv(text) {
  const src = String(text || '').replace(/^\uFEFF/, '');
  const records = [];
  let cells = [];
  let cell = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  let touched = false;
  const endRecord = () => {
    cells.push(cell);
    if (touched || cells.length > 1 || cell.trim() !== '') records.push({ line: start, cells });
    cells = [];
    cell = '';
    touched = false;
  };
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (quoted) {
      if (c === '"') {
        if (src[i + 1] === '"') { cell += '"'; i++; } else quoted = false;
      } else {
        if (c === '\n') line++;
        cell += c;
      }
      continue;
    }
    if (c === '"') { quoted = true; touched = true; }
    else if (c === ',') { cells.push(cell); cell = ''; touched = true; }
    else if (c === '\r') { /* part of CRLF */ }
    else if (c === '\n') { endRecord(); line++; start = line; }
    else cell += c;
  }
  if (cell !== '' || cells.length || touched) endRecord();
  return records;
}

/** One CSV field, quoted when it needs to be. */
export function csvField(v) {
  const s = String(v ?? '');
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Saves a Blob as a file through a temporary link. */
export function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Debounces `fn` by `ms`. */
export function debounce(fn, ms = 200) {
  let timer = null;
  const d = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  d.cancel = () => clearTimeout(timer);
  return d;
}

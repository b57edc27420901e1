// Small pieces of UI only the family app has: a person's avatar in the app's two tones,
// sheets, the notification beep, and times shown the way a messenger shows them. Toasts,
// dialogs and icons are the shared ones (/common/ui.js, /common/icons.js).

import { h } from '/common/dom.js';
import { t, getLang, formatDate, formatTime } from '/common/i18n.js';
import { icon } from '/common/icons.js';
import { avatar, openLayer } from '/common/ui.js';
import { state } from './state.js';

export const zone = () => state.settings.timezone || undefined;

/** A person's round avatar; children get the accent, adults a grey. */
export function personAvatar(person, size = 'md') {
  const role = person?.role || 'student';
  return avatar(person?.display_name, { size, tone: role === 'student' ? 'child' : 'adult' });
}

// ---- times ------------------------------------------------------------------------------

/** `YYYY-MM-DD` of an instant in the school's zone (for day separators). */
export function dayKey(value) {
  const opts = { year: 'numeric', month: '2-digit', day: '2-digit' };
  try {
    return new Intl.DateTimeFormat('en-CA', { ...opts, timeZone: zone() }).format(new Date(value));
  } catch {
    return new Intl.DateTimeFormat('en-CA', opts).format(new Date(value));
  }
}

function daysAgo(value) {
  const midnight = (d) => Date.parse(`${dayKey(d)}T00:00:00Z`);
  return Math.round((midnight(new Date()) - midnight(new Date(value))) / 86_400_000);
}

/** "Today", "Yesterday", or a date for a day separator. */
export function dayLabel(value) {
  const ago = daysAgo(value);
  if (ago === 0) return t('day.today');
  if (ago === 1) return t('day.yesterday');
  if (ago > 1 && ago < 7) return formatDate(value, zone(), { weekday: 'long' });
  return formatDate(value, zone(), { year: 'numeric', month: 'long', day: 'numeric', weekday: 'short' });
}

/** The time in the conversation list: a clock time today, else "Yesterday", a weekday or a date. */
export function listTime(value) {
  if (!value) return '';
  const ago = daysAgo(value);
  if (ago <= 0) return formatTime(value, zone());
  if (ago === 1) return t('day.yesterday');
  if (ago < 7) return formatDate(value, zone(), { weekday: 'short' });
  return formatDate(value, zone(), { month: 'numeric', day: 'numeric' });
}

export const clock = (value) => formatTime(value, zone());

/** `m:ss` for a duration in seconds. */
export function duration(seconds) {
  const s = Math.max(0, Math.floor(Number.isFinite(seconds) ? seconds : 0));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

// ---- sheets ----------------------------------------------------------------------------

/** A bottom sheet (phone) / centred panel (desktop). Returns `{el, close}`; `onClose` runs once. */
export function openSheet({ title, content, testid = 'sheet', onClose }) {
  const closeBtn = h('button', { type: 'button', class: 'icon-btn', 'aria-label': t('common.close'), 'data-testid': `${testid}-close`, onclick: () => close() }, icon('close'));
  const panel = h('div', { class: 'sheet', role: 'dialog', 'aria-modal': 'true', 'aria-label': title, 'data-testid': testid },
    h('div', { class: 'sheet-grip', 'aria-hidden': 'true' }),
    h('header', { class: 'sheet-head' }, h('h2', { class: 'sheet-title' }, title), closeBtn),
    h('div', { class: 'sheet-body' }, content));
  const close = openLayer(h('div', { class: 'scrim scrim-sheet' }, panel), { onClose });
  closeBtn.focus();
  return { el: panel, close };
}

// ---- sound ------------------------------------------------------------------------------

let audio = null;

function audioContext() {
  if (!audio) {
    const Ctor = window.AudioContext || window.webkitAudioContext;
    if (!Ctor) return null;
    audio = new Ctor();
  }
  if (audio.state === 'suspended') audio.resume().catch(() => {});
  return audio;
}

/** Call from a touch so that later beeps may sound (browsers block audio before one). */
export function unlockAudio() { audioContext(); }

/** A soft two-note beep for an arriving reply. Counted in `body[data-beeps]` for tests. */
export function beep() {
  document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
  const ac = audioContext();
  if (!ac) return;
  const t0 = ac.currentTime + 0.01;
  [[784, 0], [1046.5, 0.14]].forEach(([freq, at]) => {
    const osc = ac.createOscillator();
    const gain = ac.createGain();
    osc.type = 'sine';
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, t0 + at);
    gain.gain.exponentialRampToValueAtTime(0.16, t0 + at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t0 + at + 0.5);
    osc.connect(gain).connect(ac.destination);
    osc.start(t0 + at);
    osc.stop(t0 + at + 0.55);
  });
}

/** The language tag for `Intl` and `lang` attributes. */
export const lang = () => getLang();

// Small pieces of UI the family app shares: avatars, dialogs, sheets, a toast, the
// notification beep, and times shown the way a messenger shows them.

import { h, initials } from '/common/dom.js';
import { t, getLang, formatDate, formatTime } from '/common/i18n.js';
import { state } from './state.js';
import { icon } from './icons.js';

export const zone = () => state.settings.timezone || undefined;

/** A round avatar with the person's initials; children get the accent, adults a grey. */
export function avatar(person, size = 'md') {
  const role = person?.role || 'student';
  return h('span', { class: `avatar avatar-${size} avatar-${role === 'student' ? 'child' : 'adult'}`, 'aria-hidden': 'true' },
    initials(person?.display_name));
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

// ---- dialogs and sheets -----------------------------------------------------------------

const layer = () => document.getElementById('layer');

/**
 * A modal dialog. Resolves true when the confirm button is used, false otherwise.
 * `danger` paints the confirm button red (urgent, log out).
 */
export function confirmDialog({ title, body, confirm, cancel = t('common.cancel'), danger = false, testid = 'dialog' }) {
  return new Promise((resolve) => {
    const previous = document.activeElement;
    const done = (value) => {
      document.removeEventListener('keydown', onKey);
      scrim.remove();
      previous?.focus?.();
      resolve(value);
    };
    const onKey = (e) => { if (e.key === 'Escape') done(false); };
    const ok = h('button', { type: 'button', class: `btn ${danger ? 'btn-danger' : 'btn-primary'}`, 'data-testid': `${testid}-confirm`, onclick: () => done(true) }, confirm);
    const scrim = h('div', { class: 'scrim', onclick: (e) => { if (e.target === scrim) done(false); } },
      h('div', { class: 'dialog', role: 'alertdialog', 'aria-modal': 'true', 'aria-labelledby': `${testid}-title`, 'data-testid': testid },
        danger ? h('div', { class: 'dialog-icon' }, icon('urgent')) : null,
        h('h2', { class: 'dialog-title', id: `${testid}-title` }, title),
        body ? h('p', { class: 'dialog-body' }, body) : null,
        h('div', { class: 'dialog-actions' },
          h('button', { type: 'button', class: 'btn btn-quiet', 'data-testid': `${testid}-cancel`, onclick: () => done(false) }, cancel),
          ok)));
    document.addEventListener('keydown', onKey);
    layer().append(scrim);
    ok.focus();
  });
}

/** A bottom sheet (phone) / centred panel (desktop). Returns `{el, close}`; `onClose` runs once. */
export function openSheet({ title, content, testid = 'sheet', onClose = () => {} }) {
  const previous = document.activeElement;
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    document.removeEventListener('keydown', onKey);
    scrim.remove();
    previous?.focus?.();
    onClose();
  };
  const onKey = (e) => { if (e.key === 'Escape') close(); };
  const closeBtn = h('button', { type: 'button', class: 'icon-btn', 'aria-label': t('common.close'), 'data-testid': `${testid}-close`, onclick: close }, icon('close'));
  const panel = h('div', { class: 'sheet', role: 'dialog', 'aria-modal': 'true', 'aria-label': title, 'data-testid': testid },
    h('div', { class: 'sheet-grip', 'aria-hidden': 'true' }),
    h('header', { class: 'sheet-head' }, h('h2', { class: 'sheet-title' }, title), closeBtn),
    h('div', { class: 'sheet-body' }, content));
  const scrim = h('div', { class: 'scrim scrim-sheet', onclick: (e) => { if (e.target === scrim) close(); } }, panel);
  document.addEventListener('keydown', onKey);
  layer().append(scrim);
  closeBtn.focus();
  return { el: panel, close };
}

let toastTimer = null;

/** A short message at the bottom of the screen, read out by screen readers. */
export function toast(text, { kind = 'info', ms = 4000 } = {}) {
  const box = document.getElementById('toast');
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, ms);
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

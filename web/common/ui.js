// The UI pieces the three faces share: toasts, modal layers and dialogs, and avatars.
//
// One definition each; a face keeps its own look in its CSS (`.toast`, `.scrim`,
// `.dialog…`, `.avatar…`) and says once, with `configureUi`, where its behaviour
// differs (how many toasts at once and for how long, whether dialogs have a close
// button). A face animates an element that goes away with a CSS transition on
// `.leaving`; without one it goes at once. Every name and message is set as text.

import { h, initials } from './dom.js';
import { icon } from './icons.js';
import { t } from './i18n.js';
import { serverErrorText, englishMessageAllowed } from './errors.js';

const config = {
  toasts: {
    /** How many toasts show at once; a new one pushes out the oldest. */
    max: 1,
    /** How long a toast stays, and an error toast. */
    ms: 4000,
    errorMs: 6000,
    /** An icon before the text, by kind (`default` for the others), or none. */
    icons: {},
  },
  dialogs: {
    /** A × in the dialog's head (Escape and a press beside it close it anyway). */
    closeButton: true,
    /** Whether a question focuses its confirm button (Enter then confirms). */
    focusConfirm: false,
  },
  /** Turns a thrown error into a sentence for the person at the screen. */
  // The server's English message only for an English reader (`errors.js`).
  errorText: (err) => serverErrorText(err) || (englishMessageAllowed() && err && err.message) || t('error.generic'),
};

/** Sets this face's options, once at start: `{toasts, dialogs, errorText}` (see `config`). */
export function configureUi({ toasts, dialogs, errorText } = {}) {
  Object.assign(config.toasts, toasts);
  Object.assign(config.dialogs, dialogs);
  if (errorText) config.errorText = errorText;
}

/** The longest CSS transition of `el` in its current state, in milliseconds. */
function transitionMs(el) {
  const style = getComputedStyle(el);
  const seconds = (list) => list.split(',').map((v) => parseFloat(v) * (v.trim().endsWith('ms') ? 0.001 : 1) || 0);
  const durations = seconds(style.transitionDuration);
  const delays = seconds(style.transitionDelay);
  return Math.max(0, ...durations.map((d, i) => (d + (delays[i % delays.length] || 0)) * 1000));
}

/** Removes `el`, after the face's `.leaving` transition if it has one. */
function leave(el) {
  if (!el.isConnected) return;
  el.classList.add('leaving');
  const ms = transitionMs(el);
  if (ms > 0) setTimeout(() => el.remove(), ms);
  else el.remove();
}

// ---- toasts -----------------------------------------------------------------------------

let toastHost = null;

/**
 * A short message at the bottom of the screen, read out by screen readers. `kind` (info,
 * ok, success, error) is `data-kind` for the face's CSS; `ms` overrides how long it stays.
 */
export function toast(text, { kind = 'info', ms } = {}) {
  if (!toastHost?.isConnected) {
    toastHost = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.append(toastHost);
  }
  const { max, icons } = config.toasts;
  const glyph = icons[kind] || icons.default;
  const el = h('div', { class: 'toast', 'data-kind': kind, 'data-testid': 'toast' },
    glyph ? icon(glyph) : null, h('span', { text }));
  // The newest says what just happened; older ones beyond the face's limit go at once.
  while (toastHost.children.length >= Math.max(1, max)) toastHost.firstElementChild.remove();
  toastHost.append(el);
  setTimeout(() => leave(el), ms ?? (kind === 'error' ? config.toasts.errorMs : config.toasts.ms));
  return el;
}

/** Takes every toast away at once (a kiosk keeps nothing of a student's visit). */
export function clearToasts() {
  toastHost?.replaceChildren();
}

// ---- modal layers -----------------------------------------------------------------------

/** Open layers, the newest last: Escape closes only the one on top. */
const layers = [];

/**
 * Shows `el` (a full-screen element: a `.scrim` holding a panel, a lightbox) over the
 * page. Escape, or a press on `el` itself when `dismissOnPress`, closes it; focus goes
 * back where it was. Returns `close()`; `onClose` runs once, however it closed.
 */
export function openLayer(el, { onClose, dismissOnPress = true } = {}) {
  const previous = document.activeElement;
  let open = true;
  const onKey = (e) => {
    if (e.key === 'Escape' && layers[layers.length - 1] === close) close();
  };
  function close() {
    if (!open) return;
    open = false;
    // Focus goes back only from the top layer: a dialog that opened another as it closed
    // (create a doorplate, then show its pairing code) leaves the new one in charge.
    const onTop = layers[layers.length - 1] === close;
    layers.splice(layers.indexOf(close), 1);
    document.removeEventListener('keydown', onKey);
    leave(el);
    if (onTop) previous?.focus?.({ preventScroll: true });
    if (onClose) onClose();
  }
  // A press (not a click) on the backdrop: a drag that starts in a field and ends
  // outside it must not close the dialog.
  if (dismissOnPress) el.addEventListener('mousedown', (e) => { if (e.target === el) close(); });
  layers.push(close);
  document.addEventListener('keydown', onKey);
  document.body.append(el);
  return close;
}

// ---- dialogs ----------------------------------------------------------------------------

let dialogSeq = 0;

/**
 * A modal dialog: an optional icon, the title, a body (a node, or a string shown as a
 * paragraph), an error line and a row of actions.
 *
 * `actions` = [{label, kind, icon, testid, autofocus, onClick(ctx)}]: pressing one runs
 * `onClick` with the button busy, then closes the dialog unless it returned false or
 * threw (the error shows in the dialog). An action without `onClick` just closes.
 * `ctx` is `{close, error}`; `error.show(err|text)` and `error.clear()`.
 * The first form field, else the `autofocus` action, gets the focus.
 *
 * @returns {{el: HTMLElement, close: () => void, error: {show, clear}}}
 */
export function dialog({
  title, body, actions = [], icon: glyph, wide = false, role = 'dialog', testid = 'dialog',
  closeButton = config.dialogs.closeButton, onClose,
}) {
  const errorLine = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'form-error', hidden: true });
  const error = {
    show(err) {
      errorLine.textContent = typeof err === 'string' ? err : config.errorText(err);
      errorLine.hidden = false;
    },
    clear() {
      errorLine.hidden = true;
      errorLine.textContent = '';
    },
  };
  const titleId = `dialog-title-${++dialogSeq}`;
  const ctx = { close: () => close(), error };

  async function run(action, button) {
    if (!action.onClick) return ctx.close();
    button.disabled = true;
    button.classList.add('busy');
    error.clear();
    try {
      if ((await action.onClick(ctx)) !== false) ctx.close();
    } catch (err) {
      error.show(err);
    } finally {
      button.disabled = false;
      button.classList.remove('busy');
    }
  }

  const buttons = actions.map((a) => {
    const b = h('button', { type: 'button', class: `btn btn-${a.kind || 'outline'}`, 'data-testid': a.testid },
      a.icon ? icon(a.icon) : null, h('span', { text: a.label }));
    b.addEventListener('click', () => run(a, b));
    return b;
  });
  const card = h('div', {
    class: wide ? 'dialog dialog-wide' : 'dialog', role, 'aria-modal': 'true', 'aria-labelledby': titleId, 'data-testid': testid,
  },
  glyph ? h('div', { class: 'dialog-icon' }, icon(glyph)) : null,
  h('div', { class: 'dialog-head' },
    h('h2', { class: 'dialog-title', id: titleId, text: title }),
    closeButton ? h('button', {
      type: 'button', class: 'icon-btn', 'aria-label': t('common.close'), title: t('common.close'), onclick: () => ctx.close(),
    }, icon('close')) : null),
  body === undefined || body === null ? null
    : h('div', { class: 'dialog-body' }, typeof body === 'string' ? h('p', { class: 'dialog-text', text: body }) : body),
  errorLine,
  buttons.length ? h('div', { class: 'dialog-actions' }, buttons) : null);

  const close = openLayer(h('div', { class: 'scrim' }, card), { onClose });
  const first = card.querySelector('input, select, textarea') || buttons[actions.findIndex((a) => a.autofocus)];
  first?.focus();
  return { el: card, close, error };
}

/**
 * Asks a yes/no question; resolves true when confirmed, false when cancelled or dismissed.
 * `danger` paints the confirm button red; `icon` shows a glyph above the title. The
 * buttons are `<testid>-cancel` and `<testid>-confirm`.
 */
export function confirmDialog({
  title, text, confirm, cancel = t('common.cancel'), danger = false, icon: glyph, testid = 'confirm-dialog',
}) {
  return new Promise((resolve) => {
    let confirmed = false;
    dialog({
      title, body: text, icon: glyph, role: 'alertdialog', testid,
      actions: [
        { label: cancel, kind: 'quiet', testid: `${testid}-cancel` },
        {
          label: confirm, kind: danger ? 'danger' : 'primary', testid: `${testid}-confirm`,
          autofocus: config.dialogs.focusConfirm, onClick: () => { confirmed = true; },
        },
      ],
      onClose: () => resolve(confirmed),
    });
  });
}

// ---- avatars ----------------------------------------------------------------------------

/**
 * A round avatar with a person's initials. It is decorative (the name is always shown
 * beside it); `size` and `tone` add the face's `avatar-<size>` and `avatar-<tone>` classes.
 */
export function avatar(name, { size, tone } = {}) {
  const cls = ['avatar', size && `avatar-${size}`, tone && `avatar-${tone}`].filter(Boolean).join(' ');
  return h('span', { class: cls, 'aria-hidden': 'true', text: initials(name) });
}

// The proof sheet: "Tap your card, show your badge, or sign in". It collects a credential
// three ways — the card reader (handled globally by the kiosk), the camera reading a QR
// badge, and username + password on the on-screen keyboard — and shows what went wrong
// (the text for each refusal is at the end of this file).

import { h } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { icon } from '/common/icons.js';
import { createKeyboard } from './keyboard.js';
import { qrSupported, startQrScanner } from './qr.js';

const ACTION_ICON = { checkin: 'login', messages: 'messages', checkout: 'logout' };
const IDLE_CLOSE_MS = 60_000;

/**
 * Opens the sheet in `parent`.
 * @param {object} opts
 * @param {'checkin'|'messages'|'checkout'} opts.action
 * @param {(credential: object) => void} opts.onCredential
 * @param {() => void} opts.onClose  the person closed it (or walked away)
 * @param {string} [opts.forName]    the tile that was tapped, as a friendly greeting
 * @param {{title: string, prompt: string, icon: string}} [opts.purpose]  what the proof is
 *        for when it is not the action's own (a call's "Answer")
 */
export function openProofSheet(parent, { action, onCredential, onClose, forName, purpose }) {
  let activeField = null;
  let stopCamera = null;
  let throttleTimer = null;
  let idleTimer = null;
  let closed = false;

  const username = h('input', {
    class: 'field-input', type: 'text', inputmode: 'none', autocomplete: 'off', autocapitalize: 'off',
    spellcheck: 'false', 'data-testid': 'proof-username', 'aria-label': t('proof.username'),
    onfocus: () => setActive(username),
  });
  const password = h('input', {
    class: 'field-input', type: 'password', inputmode: 'none', autocomplete: 'off',
    'data-testid': 'proof-password', 'aria-label': t('proof.password'),
    onfocus: () => setActive(password),
  });
  const field = (input, labelKey) => h('label', { class: 'field', onpointerdown: () => setActive(input) },
    h('span', { class: 'field-label', text: t(labelKey) }), input);
  const usernameField = field(username, 'proof.username');
  const passwordField = field(password, 'proof.password');

  function setActive(input) {
    activeField = input;
    usernameField.classList.toggle('active', input === username);
    passwordField.classList.toggle('active', input === password);
    if (document.activeElement !== input) input.focus({ preventScroll: true });
  }

  function submitPassword() {
    if (!username.value.trim()) { setActive(username); return; }
    if (activeField === username && !password.value) { setActive(password); return; }
    if (!password.value) { setActive(password); return; }
    onCredential({ username: username.value.trim(), password: password.value });
  }

  const keyboard = createKeyboard({
    target: () => activeField,
    onEnter: submitPassword,
    onKey: poke,
  });

  const error = h('div', { class: 'proof-error', role: 'alert', 'data-testid': 'proof-error', hidden: true });
  const busy = h('div', { class: 'proof-busy', 'data-testid': 'proof-busy', hidden: true },
    h('div', { class: 'spinner', 'aria-hidden': 'true' }), h('div', { text: t('proof.checking') }));

  const video = h('video', { class: 'camera-video', muted: true, playsinline: true, autoplay: true, 'data-testid': 'camera-preview' });
  const cameraPanel = h('div', { class: 'proof-way proof-camera', hidden: true, 'data-testid': 'proof-camera' },
    h('div', { class: 'camera-frame' }, video, h('div', { class: 'camera-target', 'aria-hidden': 'true' })),
    h('div', { class: 'way-text' }, icon('qr'), h('span', { text: t('proof.way.badge') })));

  const cardPanel = h('div', { class: 'proof-way proof-card' },
    h('div', { class: 'card-art', 'aria-hidden': 'true' },
      h('div', { class: 'card-art-reader' }), h('div', { class: 'card-art-card' }, icon('card'))),
    h('div', { class: 'way-text' }, h('strong', { text: t('proof.way.card') }), h('span', { text: t('proof.way.card.sub') })));

  const signInButton = h('button', {
    type: 'button', class: 'btn btn-primary signin-btn', 'data-testid': 'proof-signin',
    onclick: submitPassword,
  }, icon('key'), t('proof.signin'));

  const sheet = h('div', {
    class: `sheet proof-sheet action-${action}`, role: 'dialog', 'aria-modal': 'true',
    'data-testid': 'proof-sheet', 'data-action': action,
  },
  h('header', { class: 'sheet-head' },
    h('div', { class: 'sheet-icon' }, icon(purpose?.icon || ACTION_ICON[action])),
    h('div', { class: 'sheet-titles' },
      h('h2', { class: 'sheet-title', 'data-testid': 'proof-title', text: purpose?.title || t(`action.${action}`) }),
      h('p', { class: 'sheet-sub', text: purpose?.prompt || (forName ? t('proof.prompt.name', { name: forName }) : t('proof.prompt')) })),
    h('button', {
      type: 'button', class: 'btn btn-outline close-btn', 'data-testid': 'proof-close',
      'aria-label': t('common.close'), onclick: () => close(true),
    }, icon('close'), h('span', { text: t('common.cancel') }))),
  error,
  h('div', { class: 'proof-body' },
    h('div', { class: 'proof-ways' }, cardPanel, cameraPanel),
    h('div', { class: 'proof-signin' },
      h('div', { class: 'signin-title' }, icon('key'), h('span', { text: t('proof.way.signin') })),
      h('div', { class: 'fields' }, usernameField, passwordField),
      keyboard.el,
      signInButton)),
  busy);

  const backdrop = h('div', { class: 'sheet-backdrop', onpointerdown: poke, onkeydown: poke }, sheet);
  parent.append(backdrop);
  requestAnimationFrame(() => backdrop.classList.add('open'));
  setActive(username);
  poke();

  // The camera part appears only where it can work.
  qrSupported().then(async (ok) => {
    if (!ok || closed) return;
    try {
      cameraPanel.hidden = false;
      sheet.classList.add('with-camera');
      const stop = await startQrScanner(video, (text) => {
        onCredential({ qr: text });
      });
      if (closed) stop(); else stopCamera = stop;
    } catch {
      cameraPanel.hidden = true;
      sheet.classList.remove('with-camera');
    }
  });

  function poke() {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => close(true), IDLE_CLOSE_MS);
  }

  function close(byPerson = false) {
    if (closed) return;
    closed = true;
    clearTimeout(idleTimer);
    clearInterval(throttleTimer);
    if (stopCamera) stopCamera();
    username.value = '';
    password.value = '';
    backdrop.remove();
    if (byPerson) onClose();
  }

  function showError(text) {
    clearInterval(throttleTimer);
    error.textContent = text;
    error.hidden = !text;
    if (text) {
      // Restart the entrance so a repeated error is noticed.
      error.classList.remove('shake');
      void error.offsetWidth;
      error.classList.add('shake');
    }
  }

  return {
    action,
    el: sheet,
    close,
    poke,
    setBusy(on) {
      busy.hidden = !on;
      signInButton.disabled = on;
      if (on) showError('');
    },
    showError,
    /** A countdown from `seconds` (429 with Retry-After). */
    showThrottle(seconds, textFor) {
      let left = Math.max(1, seconds);
      showError(textFor(left));
      throttleTimer = setInterval(() => {
        left -= 1;
        if (left <= 0) {
          clearInterval(throttleTimer);
          error.textContent = t('proof.error.throttle_over');
        } else {
          error.textContent = textFor(left);
        }
      }, 1000);
    },
    clearPassword() {
      password.value = '';
      setActive(password);
    },
  };
}

// ---- what a refused proof says ------------------------------------------------------

/** 401 codes that refuse the credential (not the device), and the text each one gets. */
const CREDENTIAL_CODES = {
  invalid_credential: null,
  unknown_card: 'card',
  unknown_badge: 'qr',
  wrong_password: 'password',
};

/** How a credential was given (`card`, `qr` or `password`): each gets its own error text. */
export function credentialKind(credential) {
  if (credential.card !== undefined) return 'card';
  if (credential.qr !== undefined) return 'qr';
  return 'password';
}

/** Whether a 401 refused the credential itself; any other 401 may mean the device's token. */
export function refusesCredential(err) {
  return err.code in CREDENTIAL_CODES;
}

/** The text the sheet shows for an API error answering a proof for `action`. */
export function proofErrorText(err, action, kind) {
  if (err.status === 0) return t('error.network');
  if (err.status === 401) return t(`proof.error.${CREDENTIAL_CODES[err.code] || kind}`);
  if (action === 'checkout' && (err.status === 404 || err.status === 409 || err.status === 422)) return t('proof.error.not_here');
  if (action === 'checkin' && err.status === 409) return t('proof.error.already_here');
  if (err.code === 'not_a_student') return t('proof.error.not_a_student');
  if (err.status === 403) return t(action === 'messages' ? 'proof.error.no_session' : 'proof.error.forbidden');
  if (err.status === 404) return t(`proof.error.${kind}`);
  return t('error.generic');
}

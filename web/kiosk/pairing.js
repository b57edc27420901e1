// The pairing screen: a kiosk with no device token asks for the one-time code the console
// shows for its doorplate (typed on the on-screen keyboard, or scanned from a QR code),
// and trades it for the device token. The kiosk keeps the token; this screen only asks.

import { api, ApiError } from '/common/api.js';
import { h } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { icon } from '/common/icons.js';
import { createKeyboard } from './keyboard.js';

/**
 * Shows the pairing screen at the top of `parent`.
 * @param {object} opts
 * @param {string} [opts.message]  why the kiosk asks again (a token the server refused)
 * @param {(res: {device_token: string, doorplate?: object}) => void} opts.onPaired
 *   the code was accepted; the screen is already gone
 * @param {() => void} opts.onToggleLang  the language button
 * @returns {{fill(code: string): void, remove(): void}} `fill` enters a scanned code and pairs
 */
export function openPairing(parent, { message, onPaired, onToggleLang }) {
  let pairing = false;
  const input = h('input', {
    class: 'pair-input', type: 'text', inputmode: 'none', autocomplete: 'off', autocapitalize: 'characters',
    spellcheck: 'false', 'data-testid': 'pair-code', 'aria-label': t('pair.code'), maxlength: 64,
  });
  const error = h('p', { class: 'pair-error', 'data-testid': 'pair-error', role: 'alert', hidden: !message, text: message || '' });
  const keyboard = createKeyboard({ target: () => input, onEnter: pairNow, caps: true, enterLabel: 'pair.submit' });
  const pairButton = h('button', { type: 'button', class: 'btn btn-primary pair-btn', 'data-testid': 'pair-submit', onclick: pairNow },
    icon('check'), h('span', { 'data-i18n': 'pair.submit', text: t('pair.submit') }));
  const view = h('section', { class: 'pairing', 'data-testid': 'pairing' },
    h('div', { class: 'pair-card' },
      h('div', { class: 'brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }, icon('home')),
        h('span', { class: 'brand-name', 'data-i18n': 'brand', text: t('brand') })),
      h('h1', { 'data-i18n': 'pair.title', text: t('pair.title') }),
      h('p', { class: 'pair-help', 'data-i18n': 'pair.help', text: t('pair.help') }),
      h('div', { class: 'pair-row' }, input, pairButton),
      error,
      keyboard.el),
    h('button', { type: 'button', class: 'lang-btn pair-lang', 'data-testid': 'lang-switch', onclick: onToggleLang },
      icon('globe'), h('span', { 'data-i18n': 'lang.switch', text: t('lang.switch') })));
  parent.prepend(view);
  input.focus({ preventScroll: true });

  async function pairNow() {
    const code = input.value.trim();
    if (!code || pairing) return;
    pairing = true;
    error.hidden = true;
    view.classList.add('busy');
    try {
      const res = await api('POST', '/api/v1/devices/pair', { body: { pairing_code: code } });
      view.remove();
      onPaired(res);
    } catch (err) {
      error.hidden = false;
      if (err instanceof ApiError && err.status === 429) error.textContent = t('error.throttled', { n: err.retryAfter ?? 30 });
      else if (err instanceof ApiError && err.status === 0) error.textContent = t('error.network');
      else error.textContent = t('pair.invalid');
    } finally {
      pairing = false;
      view.classList.remove('busy');
    }
  }

  return {
    fill(code) {
      input.value = code;
      pairNow();
    },
    remove() {
      view.remove();
    },
  };
}

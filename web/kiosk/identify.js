// "Identify" from the console: the screen flashes with its name and room for a few
// seconds, so whoever stands at a row of doors sees which screen the console means.
// It sits above everything (a personal session too) and goes by itself.

import { h } from '/common/dom.js';
import { t } from '/common/i18n.js';

const SHOW_MS = 6000;

let current = null;

/** Flashes `root` with the doorplate's name (and its room) for a few seconds. */
export function identify(root, { name, room }) {
  if (current) current.remove();
  const el = h('div', { class: 'identify', 'data-testid': 'identify', role: 'status', 'aria-live': 'assertive' },
    h('div', { class: 'identify-card' },
      h('p', { class: 'identify-label', text: t('identify.label') }),
      h('p', { class: 'identify-name', 'data-testid': 'identify-name', text: name || '' }),
      room ? h('p', { class: 'identify-room', text: room }) : null));
  root.append(el);
  current = el;
  setTimeout(() => {
    el.remove();
    if (current === el) current = null;
  }, SHOW_MS);
}

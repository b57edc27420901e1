// The on-screen keyboard: big keys for letters, digits and the few signs a username has.
// It types into whichever of its fields is active; the fields use inputmode="none" so a
// tablet's own keyboard does not cover the screen.

import { h } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { icon } from '/common/icons.js';

const ROWS = [
  ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0'],
  ['q', 'w', 'e', 'r', 't', 'y', 'u', 'i', 'o', 'p'],
  ['a', 's', 'd', 'f', 'g', 'h', 'j', 'k', 'l', '-'],
  ['shift', 'z', 'x', 'c', 'v', 'b', 'n', 'm', 'backspace'],
  ['.', '_', '@', 'space', 'enter'],
];

/**
 * Builds a keyboard.
 * @param {object} opts
 * @param {() => HTMLInputElement|null} opts.target  the field keys go into
 * @param {() => void} opts.onEnter
 * @param {boolean} [opts.caps]  start in capitals (pairing codes)
 * @param {() => void} [opts.onKey]  called after every key (to keep a session awake)
 * @param {string} [opts.enterLabel]  translation key of the Enter key's label
 */
export function createKeyboard({ target, onEnter, caps = false, onKey = () => {}, enterLabel = 'kb.enter' }) {
  let shift = caps;
  const letterKeys = [];

  function press(key) {
    const field = target();
    if (key === 'enter') {
      onEnter();
    } else if (key === 'shift') {
      shift = !shift;
      render();
    } else if (field) {
      if (key === 'backspace') field.value = field.value.slice(0, -1);
      else field.value += key === 'space' ? ' ' : shift ? key.toUpperCase() : key;
      field.dispatchEvent(new Event('input', { bubbles: true }));
    }
    onKey(key);
  }

  function keyButton(key) {
    const special = { shift: 'shift', backspace: 'backspace', enter: 'enter' }[key];
    const label = special
      ? [icon(special), key === 'enter' ? h('span', { class: 'key-label', 'data-i18n': enterLabel, text: t(enterLabel) }) : null]
      : key === 'space' ? h('span', { class: 'key-label', text: t('kb.space') }) : key;
    const btn = h('button', {
      type: 'button',
      class: `key key-${special || (key === 'space' ? 'space' : 'char')}`,
      'data-key': key,
      'aria-label': special ? t(`kb.${key}`) : key === 'space' ? t('kb.space') : key,
      // Keep the field focused and react on touch down: it feels faster.
      onpointerdown: (e) => e.preventDefault(),
      onclick: () => press(key),
    }, label);
    if (/^[a-z]$/.test(key)) letterKeys.push(btn);
    return btn;
  }

  const el = h('div', { class: 'keyboard', 'data-testid': 'keyboard' },
    ROWS.map((row, i) => h('div', { class: `kb-row kb-row-${i}` }, row.map(keyButton))));

  function render() {
    for (const btn of letterKeys) btn.textContent = shift ? btn.dataset.key.toUpperCase() : btn.dataset.key;
    el.querySelector('.key-shift').classList.toggle('on', shift);
  }
  render();

  return { el };
}

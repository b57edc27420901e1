// The console's building blocks: page headers, tables, search boxes, form fields, a
// person picker and the detail panel, with the toasts, dialogs and avatars all three faces
// share (/common/ui.js, passed on from here). Views compose these; every string comes
// from the translation table, every name is set as text.

import { h, setChildren } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { icon } from '/common/icons.js';
import { toast, avatar } from '/common/ui.js';
import { errorText, debounce } from './lib.js';

export { toast, dialog, confirmDialog, avatar } from '/common/ui.js';

// ---- toasts ---------------------------------------------------------------------------

/** Shows an API error as a toast. */
export function toastError(err) {
  toast(errorText(err), { kind: 'error' });
}

// ---- page layout ----------------------------------------------------------------------

/** A view's header: title, a line of explanation, and actions on the right. */
export function pageHeader(title, subtitle, ...actions) {
  return h('header', { class: 'page-head' },
    h('div', { class: 'page-titles' },
      h('h1', { class: 'page-title', text: title }),
      subtitle ? h('p', { class: 'page-sub', text: subtitle }) : null),
    h('div', { class: 'page-actions' }, actions));
}

/**
 * A main area with a detail panel on the right. `open(node)` shows the panel with that
 * content, `close()` hides it.
 */
export function splitView() {
  const main = h('div', { class: 'split-main' });
  const panel = h('aside', { class: 'panel', 'data-testid': 'detail-panel', hidden: true });
  const el = h('div', { class: 'split' }, main, panel);
  let onClose = null;
  return {
    el, main, panel,
    open(node, { onClose: cb } = {}) {
      onClose = cb || null;
      setChildren(panel, node);
      panel.hidden = false;
      el.classList.add('with-panel');
      panel.scrollTop = 0;
    },
    close() {
      panel.hidden = true;
      el.classList.remove('with-panel');
      panel.replaceChildren();
      const cb = onClose;
      onClose = null;
      if (cb) cb();
    },
    get isOpen() { return !panel.hidden; },
  };
}

/** The top of a detail panel: title, optional subtitle and avatar, and a close button. */
export function panelHead(title, { subtitle, avatar: name, onClose } = {}) {
  return h('div', { class: 'panel-head' },
    name !== undefined ? avatar(name, { size: 'lg' }) : null,
    h('div', { class: 'panel-titles' },
      h('h2', { class: 'panel-title', text: title, 'data-testid': 'panel-title' }),
      subtitle ? h('p', { class: 'panel-sub', text: subtitle }) : null),
    onClose ? h('button', { type: 'button', class: 'icon-btn', 'aria-label': t('common.close'), onclick: onClose }, icon('close')) : null);
}

/** A titled block inside a panel or page. */
export function section(title, ...children) {
  return h('section', { class: 'section' }, title ? h('h3', { class: 'section-title', text: title }) : null, children);
}

/** A friendly empty state. */
export function emptyState(iconName, title, text, action) {
  return h('div', { class: 'empty', 'data-testid': 'empty' },
    h('div', { class: 'empty-icon' }, icon(iconName)),
    h('p', { class: 'empty-title', text: title }),
    text ? h('p', { class: 'empty-text', text }) : null,
    action || null);
}

/** A loading placeholder. */
export function loading() {
  return h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner' }), h('span', { text: t('common.loading') }));
}

/** An inline error with a retry button. */
export function errorBox(err, retry) {
  return h('div', { class: 'error-box', role: 'alert', 'data-testid': 'error' },
    icon('alert'), h('span', { text: errorText(err) }),
    retry ? h('button', { type: 'button', class: 'btn btn-small btn-outline', onclick: retry, text: t('common.retry') }) : null);
}

// ---- small pieces -------------------------------------------------------------------

export function button(label, { kind = 'outline', iconName, onclick, testid, type = 'button', small = false, disabled = false, title } = {}) {
  return h('button', {
    type, class: `btn btn-${kind}${small ? ' btn-small' : ''}`, onclick, 'data-testid': testid, disabled, title,
  }, iconName ? icon(iconName) : null, label ? h('span', { text: label }) : null);
}

export function iconButton(iconName, label, onclick, testid) {
  return h('button', { type: 'button', class: 'icon-btn', 'aria-label': label, title: label, onclick, 'data-testid': testid }, icon(iconName));
}

/** A small coloured label; `tone` is one of neutral, accent, blue, amber, violet, red, green. */
export function chip(text, tone = 'neutral', extra = {}) {
  return h('span', { class: `chip chip-${tone}`, ...extra, text });
}

/** A dot and a word for a state (online/offline…). */
export function statusDot(on, label, tone) {
  return h('span', { class: `status status-${tone || (on ? 'on' : 'off')}` }, h('span', { class: 'dot' }), h('span', { text: label }));
}

/** A search field that calls `onSearch(text)` as the person types (debounced). */
export function searchBox({ placeholder, onSearch, value = '', testid = 'search', delay = 180 }) {
  const run = debounce((v) => onSearch(v.trim()), delay);
  const input = h('input', {
    type: 'search', class: 'search-input', placeholder, value, 'data-testid': testid, 'aria-label': placeholder,
    oninput: (e) => run(e.target.value),
    onkeydown: (e) => { if (e.key === 'Enter') { run.cancel(); onSearch(e.target.value.trim()); } },
  });
  return h('label', { class: 'search' }, icon('search'), input);
}

/** A row of toggle buttons; `options` = [{value, label}]. */
export function segmented(options, value, onChange, testid) {
  const box = h('div', { class: 'segmented', role: 'tablist', 'data-testid': testid });
  const render = (current) => setChildren(box, options.map((o) => h('button', {
    type: 'button', role: 'tab', class: o.value === current ? 'active' : '', 'aria-selected': String(o.value === current),
    'data-value': o.value,
    onclick: () => { render(o.value); onChange(o.value); },
  }, o.label)));
  render(value);
  return box;
}

// ---- tables ---------------------------------------------------------------------------

/**
 * A data table. `columns` = [{label, render(row) → node|string, className, width}]; rows
 * are clickable when `onRow` is given; `selected` is the key of the highlighted row.
 */
export function table({ columns, rows, key = (r) => r.id, onRow, selected, testid = 'table', rowTestid = 'row', rowClass }) {
  const head = h('thead', {}, h('tr', {}, columns.map((c) => h('th', { class: c.className, style: c.width ? { width: c.width } : undefined, text: c.label ?? '' }))));
  const body = h('tbody', {}, rows.map((row) => {
    const k = key(row);
    const tr = h('tr', {
      class: [onRow ? 'clickable' : '', selected !== undefined && selected === k ? 'selected' : '', rowClass ? rowClass(row) : ''].join(' ').trim(),
      'data-testid': rowTestid, 'data-key': k, tabindex: onRow ? '0' : undefined,
      onclick: onRow ? () => onRow(row) : undefined,
      onkeydown: onRow ? (e) => { if (e.key === 'Enter') onRow(row); } : undefined,
    }, columns.map((c) => {
      const v = c.render ? c.render(row) : row[c.key];
      return h('td', { class: c.className }, v instanceof Node ? v : String(v ?? ''));
    }));
    return tr;
  }));
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': testid }, head, body));
}

// ---- forms ---------------------------------------------------------------------------

/** A labelled form control, with an optional hint below. */
export function field(label, control, { hint, wide = false, testid } = {}) {
  return h('label', { class: `field${wide ? ' field-wide' : ''}`, 'data-testid': testid },
    h('span', { class: 'field-label', text: label }),
    control,
    hint ? h('span', { class: 'field-hint', text: hint }) : null);
}

export function input(props = {}) {
  return h('input', { class: 'input', type: 'text', ...props });
}

export function textarea(props = {}) {
  return h('textarea', { class: 'input textarea', ...props });
}

/** A select; `options` = [{value, label}] (value '' for "none"). */
export function select(options, value, props = {}) {
  const el = h('select', { class: 'input select', ...props },
    options.map((o) => h('option', { value: o.value, text: o.label })));
  el.value = value ?? '';
  return el;
}

export function checkbox(label, checked, props = {}) {
  const box = h('input', { type: 'checkbox', ...props });
  box.checked = Boolean(checked);
  return { el: h('label', { class: 'check' }, box, h('span', { text: label })), box };
}

/** An inline error line for a form; `.show(err|text)` and `.clear()`. */
export function formError() {
  const el = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'form-error', hidden: true });
  return {
    el,
    show(err) { el.textContent = typeof err === 'string' ? err : errorText(err); el.hidden = false; },
    clear() { el.hidden = true; el.textContent = ''; },
  };
}

/**
 * Runs `work()` with the button showing that it is busy; errors go to `errors` (a
 * formError) or a toast. Returns the result, or undefined on failure.
 */
export async function busy(btn, work, errors) {
  if (btn) { btn.disabled = true; btn.classList.add('busy'); }
  errors?.clear();
  try {
    return await work();
  } catch (err) {
    if (errors) errors.show(err); else toastError(err);
    return undefined;
  } finally {
    if (btn) { btn.disabled = false; btn.classList.remove('busy'); }
  }
}

// ---- picking people ----------------------------------------------------------------

/**
 * A type-ahead for people. `load()` returns the candidates (users); `onPick(user)` is
 * called with the chosen one; `exclude()` returns ids to leave out.
 */
export function personPicker({ load, onPick, exclude = () => new Set(), placeholder, testid = 'person-picker', describe }) {
  const list = h('div', { class: 'picker-list', role: 'listbox', hidden: true });
  const inputEl = h('input', { type: 'search', class: 'input', placeholder, 'data-testid': testid, autocomplete: 'off', 'aria-label': placeholder });
  let items = [];
  let active = 0;
  async function refresh() {
    const q = inputEl.value.trim().toLowerCase();
    if (!q) { list.hidden = true; return; }
    const all = await load().catch(() => []);
    const skip = exclude();
    items = all.filter((u) => !skip.has(u.id) && (
      String(u.display_name).toLowerCase().includes(q) || String(u.username || '').toLowerCase().includes(q))).slice(0, 8);
    active = 0;
    render();
  }
  function render() {
    list.hidden = false;
    if (!items.length) {
      setChildren(list, h('div', { class: 'picker-none', text: t('common.no_match') }));
      return;
    }
    setChildren(list, items.map((u, i) => h('button', {
      type: 'button', class: `picker-item${i === active ? ' active' : ''}`, role: 'option', 'data-testid': 'picker-item',
      onmousedown: (e) => { e.preventDefault(); pick(u); },
    }, avatar(u.display_name, { size: 'sm' }), h('span', { class: 'picker-name', text: u.display_name }),
    h('span', { class: 'picker-meta', text: describe ? describe(u) : (u.username || t(`role.${u.role}`)) }))));
  }
  function pick(u) {
    inputEl.value = '';
    list.hidden = true;
    onPick(u);
  }
  const run = debounce(refresh, 120);
  inputEl.addEventListener('input', run);
  inputEl.addEventListener('blur', () => setTimeout(() => { list.hidden = true; }, 120));
  inputEl.addEventListener('keydown', (e) => {
    if (list.hidden || !items.length) return;
    if (e.key === 'ArrowDown') { active = (active + 1) % items.length; render(); e.preventDefault(); }
    if (e.key === 'ArrowUp') { active = (active - 1 + items.length) % items.length; render(); e.preventDefault(); }
    if (e.key === 'Enter') { pick(items[active]); e.preventDefault(); }
  });
  return h('div', { class: 'picker' }, inputEl, list);
}

/** A person shown as a removable chip. */
export function personChip(user, onRemove, extra = {}) {
  return h('span', { class: 'person-chip', 'data-testid': 'person-chip', 'data-user-id': user.id, ...extra },
    avatar(user.display_name, { size: 'xs' }),
    h('span', { text: user.display_name }),
    onRemove ? h('button', { type: 'button', class: 'chip-x', 'aria-label': t('common.remove_name', { name: user.display_name }), onclick: onRemove }, icon('close')) : null);
}

/** A definition list of label → value rows. */
export function facts(rows) {
  return h('dl', { class: 'facts' }, rows.filter(Boolean).map(([k, v]) => [h('dt', { text: k }), h('dd', {}, v instanceof Node ? v : String(v ?? '—'))]));
}

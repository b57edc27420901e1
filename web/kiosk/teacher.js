// Teacher mode: a teacher (or admin) who proved themselves at the doorplate places students
// here ("teacher now") from their classes or a search, and dismisses those present.
// It runs inside the same personal frame as a student session, with the session token.

import { ApiError } from '/common/api.js';
import { h, setChildren } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { icon } from '/common/icons.js';
import { openFrame } from './shell.js';

/**
 * @param {HTMLElement} parent
 * @param {object} opts
 * @param {{session_token: string, user: object, expires_at?: string}} opts.session
 * @param {number} opts.idleSeconds
 * @param {string} opts.doorplateId
 * @param {() => Array<{user_id: string, display_name: string}>} opts.getPresent
 * @param {(reason: string) => void} opts.onEnd
 */
export function openTeacher(parent, { session, idleSeconds, doorplateId, getPresent, onEnd }) {
  const token = session.session_token;
  const me = session.user;
  const aborter = new AbortController();
  const toPlace = new Map(); // user id → display name
  const toDismiss = new Set();
  let searchTimer = null;
  let expiryTimer = null;

  const frame = openFrame(parent, {
    session, idleSeconds, title: t('teacher.title'), testid: 'teacher', onEnd, signal: aborter.signal,
  });
  const { shell, call, end } = frame;

  const checkRow = (user, checked, onChange, testid) => h('label', { class: 'check-row', 'data-testid': testid, 'data-user-id': user.id },
    h('input', { type: 'checkbox', checked, onchange: (e) => onChange(e.target.checked) }),
    h('span', { class: 'check-box', 'aria-hidden': 'true' }, icon('check')),
    h('span', { class: 'check-name', text: user.display_name }),
    user.hint ? h('span', { class: 'check-hint', text: user.hint }) : null);

  // ---- left: choose students to place here ---------------------------------------------

  const search = h('input', {
    class: 'search-input', type: 'search', 'data-testid': 'teacher-search', autocomplete: 'off',
    placeholder: t('teacher.search'), 'aria-label': t('teacher.search'),
    oninput: () => { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 300); },
  });
  const results = h('div', { class: 'pick-list', 'data-testid': 'search-results' });
  const groupsBox = h('div', { class: 'groups', 'data-testid': 'groups' }, h('div', { class: 'spinner small' }));
  const placeButton = h('button', { type: 'button', class: 'btn btn-primary wide', 'data-testid': 'place-here', disabled: true, onclick: place },
    icon('login'), h('span', { text: t('teacher.place', { n: 0 }) }));
  const left = h('section', { class: 'teacher-pane' },
    h('h2', { text: t('teacher.place.title') }),
    h('div', { class: 'search' }, icon('search'), search),
    h('div', { class: 'pane-scroll' }, results, groupsBox),
    h('div', { class: 'pane-foot' }, placeButton));

  function pickChanged(user, on) {
    if (on) toPlace.set(user.id, user.display_name); else toPlace.delete(user.id);
    // The same student may be listed twice (a class and a search result): keep them in step.
    for (const box of left.querySelectorAll(`[data-testid="pick"][data-user-id="${CSS.escape(user.id)}"] input`)) box.checked = on;
    placeButton.disabled = toPlace.size === 0;
    placeButton.lastChild.textContent = t('teacher.place', { n: toPlace.size });
  }

  async function runSearch() {
    const q = search.value.trim();
    if (!q) { results.replaceChildren(); return; }
    try {
      const users = await call('GET', `/api/v1/users?role=student&q=${encodeURIComponent(q)}`);
      if (frame.ended || q !== search.value.trim()) return;
      const list = Array.isArray(users) ? users : (users?.users || users?.items || []);
      setChildren(results, 
        h('div', { class: 'list-title', text: t('teacher.results', { n: list.length }) }),
        ...list.slice(0, 30).map((u) => checkRow({ ...u, hint: u.username }, toPlace.has(u.id), (on) => pickChanged(u, on), 'pick')));
    } catch (err) {
      if (!frame.ended) setChildren(results, h('p', { class: 'empty-note', text: errorText(err) }));
    }
  }

  async function loadGroups() {
    let groups;
    try {
      groups = (await call('GET', '/api/v1/groups')) || [];
    } catch (err) {
      if (!frame.ended) setChildren(groupsBox, h('p', { class: 'empty-note', text: errorText(err) }));
      return;
    }
    if (frame.ended) return;
    const mine = groups.filter((g) => g.teacher_id === me.id);
    const others = groups.filter((g) => g.teacher_id !== me.id);
    const section = (titleKey, list, open) => (list.length ? [
      h('div', { class: 'list-title', text: t(titleKey) }),
      ...list.map((g) => groupBlock(g, open)),
    ] : []);
    setChildren(groupsBox, 
      ...section('teacher.my_classes', mine, mine.length <= 2),
      ...section(mine.length ? 'teacher.other_classes' : 'teacher.classes', others, !mine.length && others.length === 1),
    );
    if (!groups.length) groupsBox.append(h('p', { class: 'empty-note', text: t('teacher.no_classes') }));
  }

  function groupBlock(group, open) {
    const members = group.members || [];
    const list = h('div', { class: 'pick-list', hidden: !open });
    list.append(...members.map((m) => checkRow(m, toPlace.has(m.id), (on) => pickChanged(m, on), 'pick')));
    const toggle = h('button', {
      type: 'button', class: 'group-head', 'data-testid': 'group', 'data-group-id': group.id, 'aria-expanded': String(open),
      onclick: () => {
        list.hidden = !list.hidden;
        toggle.setAttribute('aria-expanded', String(!list.hidden));
      },
    }, h('span', { class: 'group-name', text: group.name }), h('span', { class: 'group-count', text: t('teacher.members', { n: members.length }) }));
    const all = h('button', {
      type: 'button', class: 'btn btn-quiet select-all', 'data-testid': 'select-all',
      onclick: () => {
        list.hidden = false;
        toggle.setAttribute('aria-expanded', 'true');
        const every = members.every((m) => toPlace.has(m.id));
        for (const m of members) pickChanged(m, !every);
      },
    }, t('teacher.select_all'));
    return h('div', { class: 'group' }, h('div', { class: 'group-bar' }, toggle, all), list);
  }

  async function place() {
    const ids = [...toPlace.keys()];
    if (!ids.length) return;
    placeButton.disabled = true;
    try {
      await call('POST', '/api/v1/presence', { body: { doorplate_id: doorplateId, user_ids: ids } });
      flash(t('teacher.placed', { n: ids.length }));
      for (const id of ids) pickChanged({ id }, false);
    } catch (err) {
      if (!frame.ended) flash(errorText(err), true);
    } finally {
      placeButton.disabled = toPlace.size === 0;
    }
  }

  // ---- right: who is here; dismiss ----------------------------------------------------

  const presentBox = h('div', { class: 'pick-list', 'data-testid': 'teacher-present' });
  const dismissButton = h('button', { type: 'button', class: 'btn btn-outline wide dismiss-btn', 'data-testid': 'dismiss', disabled: true, onclick: dismiss },
    icon('logout'), h('span', { text: t('teacher.dismiss', { n: 0 }) }));
  const allPresent = h('button', {
    type: 'button', class: 'btn btn-quiet select-all', 'data-testid': 'select-all-present',
    onclick: () => {
      const present = getPresent();
      const every = present.length && present.every((p) => toDismiss.has(p.user_id));
      toDismiss.clear();
      if (!every) for (const p of present) toDismiss.add(p.user_id);
      renderPresent();
    },
  }, t('teacher.select_all'));
  const presentTitle = h('h2');
  const right = h('section', { class: 'teacher-pane' },
    h('div', { class: 'pane-title-row' }, presentTitle, allPresent),
    h('div', { class: 'pane-scroll' }, presentBox),
    h('div', { class: 'pane-foot' }, dismissButton));

  function renderPresent() {
    const present = getPresent();
    const ids = new Set(present.map((p) => p.user_id));
    for (const id of [...toDismiss]) if (!ids.has(id)) toDismiss.delete(id);
    presentTitle.textContent = t('teacher.here_now', { n: present.length });
    setChildren(presentBox, ...present.map((p) => checkRow({ id: p.user_id, display_name: p.display_name, hint: t(`source.${p.source}`, {}) },
      toDismiss.has(p.user_id), (on) => {
        if (on) toDismiss.add(p.user_id); else toDismiss.delete(p.user_id);
        syncDismiss();
      }, 'present-pick')));
    if (!present.length) presentBox.append(h('p', { class: 'empty-note', text: t('present.empty') }));
    syncDismiss();
  }

  function syncDismiss() {
    dismissButton.disabled = toDismiss.size === 0;
    dismissButton.lastChild.textContent = t('teacher.dismiss', { n: toDismiss.size });
  }

  async function dismiss() {
    const ids = [...toDismiss];
    if (!ids.length) return;
    dismissButton.disabled = true;
    try {
      await call('DELETE', '/api/v1/presence', { body: { doorplate_id: doorplateId, user_ids: ids } });
      flash(t('teacher.dismissed', { n: ids.length }));
      toDismiss.clear();
      renderPresent();
    } catch (err) {
      if (!frame.ended) flash(errorText(err), true);
      syncDismiss();
    }
  }

  // ---- helpers ------------------------------------------------------------------------

  const flashBox = h('div', { class: 'flash', 'data-testid': 'teacher-message', role: 'status', hidden: true });
  let flashTimer = null;
  function flash(text, isError = false) {
    flashBox.textContent = text;
    flashBox.classList.toggle('error', isError);
    flashBox.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { flashBox.hidden = true; }, 5000);
  }

  function errorText(err) {
    if (!(err instanceof ApiError)) return t('error.generic');
    if (err.status === 0) return t('error.network');
    if (err.status === 403) return t('teacher.error.forbidden');
    if (err.status === 429) return t('error.throttled', { n: err.retryAfter ?? 10 });
    return t('error.generic');
  }

  shell.body.append(h('div', { class: 'teacher' }, left, right), flashBox);
  renderPresent();
  loadGroups();
  if (session.expires_at) {
    const ms = Date.parse(session.expires_at) - Date.now();
    if (Number.isFinite(ms) && ms > 0) expiryTimer = setTimeout(() => end('expired'), Math.min(ms, 2 ** 31 - 1));
  }

  return {
    userId: me.id,
    kind: 'teacher',
    openedAt: Date.now(),
    touch: shell.touch,
    presentChanged: renderPresent,
    destroy() {
      frame.ended = true;
      clearTimeout(searchTimer);
      clearTimeout(flashTimer);
      clearTimeout(expiryTimer);
      aborter.abort();
      toPlace.clear();
      toDismiss.clear();
      shell.destroy();
    },
  };
}

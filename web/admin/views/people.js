// People: the directory. Search as you type (the server filters and limits), a role
// filter, and a detail panel to edit a person, reset a password, set or remove a card,
// issue a QR badge and link guardians with students.

import { h, setChildren } from '/common/dom.js';
import { t, getLang } from '/common/i18n.js';
import { ApiError, at } from '/common/api.js';
import { call, isAdmin, invalidate, directory, byName, errorText } from '../lib.js';
import {
  pageHeader, splitView, panelHead, section, table, searchBox, segmented, chip, avatar, button,
  field, input, select, checkbox, formError, busy, dialog, confirmDialog, toast, personPicker,
  personChip, emptyState, loading, errorBox, statusDot, facts,
} from '../ui.js';
import { badgeDialog } from './badge.js';

const PAGE = 100;
const ROLES = ['student', 'guardian', 'teacher', 'admin'];

export function mount(root, { params }) {
  const state = { q: params.get('q') || '', role: params.get('role') || '', limit: PAGE, rows: [], selected: params.get('id') || null, seq: 0 };
  const split = splitView();
  const tableBox = h('div', { class: 'table-box' }, loading());
  const countNote = h('span', { class: 'toolbar-note', 'data-testid': 'people-count' });
  const foot = h('div', { class: 'table-foot', hidden: true });

  const newBtn = isAdmin() ? button(t('people.new'), { kind: 'primary', iconName: 'plus', onclick: () => openCreate(), testid: 'people-new' }) : null;
  setChildren(root,
    pageHeader(t('nav.people'), t('people.sub'), newBtn),
    split.el);
  setChildren(split.main, h('div', { class: 'card' },
    h('div', { class: 'toolbar' },
      searchBox({ placeholder: t('people.search'), value: state.q, onSearch: (q) => { state.q = q; state.limit = PAGE; load(); } }),
      segmented([{ value: '', label: t('people.all') }, ...ROLES.map((r) => ({ value: r, label: t(`people.roles.${r}`) }))],
        state.role, (v) => { state.role = v; state.limit = PAGE; load(); }, 'role-filter'),
      h('span', { class: 'grow' }), countNote),
    tableBox, foot));

  async function load() {
    const seq = ++state.seq;
    const q = new URLSearchParams({ limit: String(state.limit) });
    if (state.q) q.set('q', state.q);
    if (state.role) q.set('role', state.role);
    try {
      const rows = await call('GET', `/api/v1/users?${q}`);
      if (seq !== state.seq) return;
      // The server orders by code point; the reader expects pinyin order for Chinese names.
      state.rows = [...rows].sort(byName);
      render();
    } catch (err) {
      if (seq === state.seq) setChildren(tableBox, errorBox(err, load));
    }
  }

  function render() {
    const rows = state.rows;
    countNote.textContent = t('people.count', { n: rows.length });
    if (!rows.length) {
      setChildren(tableBox, emptyState('people', state.q ? t('people.none_match') : t('people.none'),
        state.q ? t('people.none_match_hint') : (isAdmin() ? t('people.none_hint') : '')));
      foot.hidden = true;
      return;
    }
    setChildren(tableBox, table({
      testid: 'people-table',
      columns: [
        { label: t('people.col.name'), render: (u) => h('div', { class: 'cell-person' }, avatar(u.display_name),
          h('div', {}, h('span', { text: u.display_name }), u.username ? h('span', { class: 'cell-sub', text: u.username }) : null)) },
        { label: t('people.col.role'), render: (u) => chip(t(`role.${u.role}`), u.role === 'student' ? 'accent' : u.role === 'guardian' ? 'violet' : 'blue') },
        { label: t('people.col.credentials'), render: (u) => h('div', { class: 'chips' },
          u.has_card ? chip(t('people.card'), 'neutral') : null,
          u.has_badge ? chip(t('people.badge'), 'neutral') : null,
          !u.has_card && !u.has_badge ? h('span', { class: 'dim', text: '—' }) : null) },
        { label: t('people.col.status'), render: (u) => (u.disabled ? statusDot(false, t('people.disabled'), 'off') : statusDot(true, t('people.active'))) },
      ],
      rows,
      rowClass: (u) => (u.disabled ? 'muted' : ''),
      selected: state.selected,
      onRow: (u) => openDetail(u),
    }));
    const more = rows.length >= state.limit && state.limit < 1000;
    foot.hidden = !more;
    if (more) {
      setChildren(foot, h('span', { text: t('people.more_hint', { n: rows.length }) }),
        button(t('people.more'), { small: true, onclick: () => { state.limit = Math.min(1000, state.limit + PAGE * 2); load(); } }));
    }
    if (state.selected && !split.isOpen) {
      const u = rows.find((r) => r.id === state.selected);
      if (u) openDetail(u);
    }
  }

  function markSelected(id) {
    state.selected = id;
    for (const tr of tableBox.querySelectorAll('tr[data-key]')) tr.classList.toggle('selected', tr.dataset.key === id);
  }

  // ---- detail ------------------------------------------------------------------------

  async function openDetail(u) {
    markSelected(u.id);
    const body = h('div', { class: 'panel-body' });
    split.open(h('div', { 'data-testid': 'person-detail' },
      panelHead(u.display_name, { subtitle: [t(`role.${u.role}`), u.username].filter(Boolean).join(' · '), avatar: u.display_name, onClose: () => split.close() }),
      body), { onClose: () => markSelected(null) });
    const sections = [];
    sections.push(isAdmin() ? editSection(u) : section(t('people.details'), facts([
      [t('people.f.name'), u.display_name],
      [t('people.f.username'), u.username || '—'],
      [t('people.col.status'), u.disabled ? t('people.disabled') : t('people.active')],
    ])));
    if (u.role === 'student' || u.role === 'guardian') sections.push(linksSection(u));
    if (isAdmin() && (u.role === 'teacher' || u.role === 'admin')) sections.push(quietSection(u));
    if (isAdmin()) sections.push(actionsSection(u));
    setChildren(body, sections);
  }

  function editSection(u) {
    const errors = formError();
    const name = input({ value: u.display_name, 'data-testid': 'edit-name' });
    const username = input({ value: u.username || '', 'data-testid': 'edit-username', autocomplete: 'off' });
    const password = input({ type: 'password', placeholder: t('people.password_keep'), 'data-testid': 'edit-password', autocomplete: 'new-password' });
    const card = input({ placeholder: u.has_card ? t('people.card_keep') : t('people.card_none'), 'data-testid': 'edit-card', autocomplete: 'off' });
    const removeCard = u.has_card ? checkbox(t('people.card_remove'), false) : null;
    const disabled = checkbox(t('people.disable'), u.disabled, { 'data-testid': 'edit-disabled' });
    const save = button(t('common.save'), { kind: 'primary', testid: 'person-save' });
    save.addEventListener('click', () => busy(save, async () => {
      const patch = {};
      if (name.value.trim() !== u.display_name) patch.display_name = name.value.trim();
      if (username.value.trim() !== (u.username || '')) patch.username = username.value.trim();
      if (password.value) patch.password = password.value;
      if (card.value.trim()) patch.card_uid = card.value.trim();
      else if (removeCard?.box.checked) patch.card_uid = '';
      if (disabled.box.checked !== u.disabled) patch.disabled = disabled.box.checked;
      if (!Object.keys(patch).length) { toast(t('common.no_changes')); return; }
      const res = await call('PATCH', `/api/v1/users/${u.id}`, { body: patch });
      invalidate('users');
      toast(t('people.saved', { name: res.user.display_name }), { kind: 'success' });
      const i = state.rows.findIndex((r) => r.id === u.id);
      if (i >= 0) state.rows[i] = res.user;
      render();
      openDetail(res.user);
    }, errors));
    return section(t('people.details'), h('div', { class: 'form-stack' },
      field(t('people.f.name'), name),
      field(t('people.f.username'), username, { hint: u.role === 'student' ? t('people.username_hint') : undefined }),
      field(t('people.f.password_reset'), password),
      field(t('people.f.card'), card, { hint: t('people.card_hint') }),
      removeCard ? removeCard.el : null,
      disabled.el,
      errors.el,
      h('div', {}, save)));
  }

  function linksSection(u) {
    const isStudent = u.role === 'student';
    const box = h('div', { class: 'form-stack' }, loading());
    const sec = section(isStudent ? t('people.guardians') : t('people.children'), box);
    let linked = [];
    const renderLinks = () => {
      const list = h('div', { class: 'chips', 'data-testid': 'links' },
        linked.length ? linked.map((p) => personChip(p, isAdmin() ? () => unlink(p) : null))
          : h('span', { class: 'dim', text: isStudent ? t('people.no_guardians') : t('people.no_children') }));
      const picker = isAdmin() ? personPicker({
        placeholder: isStudent ? t('people.add_guardian') : t('people.add_child'),
        load: async () => (await directory.users()).filter((x) => x.role === (isStudent ? 'guardian' : 'student')),
        exclude: () => new Set(linked.map((p) => p.id)),
        onPick: (p) => link(p),
        testid: 'link-picker',
      }) : null;
      setChildren(box, list, picker);
    };
    const pair = (other) => (isStudent ? { guardian_id: other.id, student_id: u.id } : { guardian_id: u.id, student_id: other.id });
    async function link(p) {
      try {
        await call('POST', '/api/v1/guardianships', { body: pair(p) });
        linked = [...linked, p].sort(byName);
        renderLinks();
        toast(t('people.linked', { a: p.display_name, b: u.display_name }), { kind: 'success' });
      } catch (err) { toast(errorText(err), { kind: 'error' }); }
    }
    async function unlink(p) {
      const ok = await confirmDialog({ title: t('people.unlink_title'), text: t('people.unlink_text', { a: p.display_name, b: u.display_name }), confirm: t('people.unlink'), danger: true });
      if (!ok) return;
      try {
        await call('DELETE', '/api/v1/guardianships', { body: pair(p) });
        linked = linked.filter((x) => x.id !== p.id);
        renderLinks();
      } catch (err) { toast(errorText(err), { kind: 'error' }); }
    }
    call('GET', `/api/v1/users/${u.id}/guardianships`).then((res) => {
      linked = (isStudent ? res.guardians : res.children) || [];
      renderLinks();
    }).catch((err) => {
      if (err instanceof ApiError && err.status === 404) {
        // The list is not available on this server yet: links can still be added.
        linked = [];
        renderLinks();
        box.prepend(h('p', { class: 'field-hint', text: t('people.links_unknown') }));
      } else setChildren(box, errorBox(err));
    });
    return sec;
  }

  /** A staff member's quiet hours (they set them in the app; an admin may too). */
  function quietSection(u) {
    const box = h('div', { class: 'form-stack', 'data-testid': 'person-quiet' }, loading());
    const path = `/api/v1/users/${u.id}/quiet-hours`;
    const draw = (res) => {
      const rows = (res.quiet_hours?.days || [null, null, null, null, null, null, null]).map((d, i) => quietRow(i, d));
      const errors = formError();
      const save = button(t('common.save'), { kind: 'primary', testid: 'person-quiet-save' });
      save.addEventListener('click', () => busy(save, async () => {
        const next = await call('PUT', path, { body: { quiet_hours: { days: rows.map((r) => r.value()) } } });
        toast(t('people.quiet_saved', { name: u.display_name }), { kind: 'success' });
        draw(next);
      }, errors));
      setChildren(box,
        h('p', { class: 'field-hint', 'data-testid': 'person-quiet-now', text: res.now ? t('people.quiet_now', { time: res.now.until_time }) : t('people.quiet_not_now') }),
        h('div', { class: 'quiet-rows' }, rows.map((r) => r.el)),
        errors.el, h('div', {}, save));
    };
    call('GET', path).then(draw).catch((err) => setChildren(box, errorBox(err)));
    return section(t('people.quiet'), box);
  }

  /** One weekday of quiet hours: on, all day, from–to. */
  function quietRow(i, span) {
    const allDay = !!span && span.from === span.to;
    const on = checkbox(t(`people.weekday.${i + 1}`), !!span, { 'data-testid': 'quiet-day-on' });
    const all = checkbox(t('people.quiet_all_day'), allDay, { 'data-testid': 'quiet-day-all' });
    const from = input({ type: 'time', value: span && !allDay ? span.from : '18:00', 'aria-label': t('people.quiet_from'), 'data-testid': 'quiet-from' });
    const to = input({ type: 'time', value: span && !allDay ? span.to : '07:00', 'aria-label': t('people.quiet_to'), 'data-testid': 'quiet-to' });
    const times = h('span', { class: 'quiet-times' }, from, '–', to);
    const el = h('div', { class: 'quiet-row', 'data-testid': 'quiet-day', dataset: { day: String(i + 1) } }, on.el, all.el, times);
    const sync = () => {
      all.box.disabled = !on.box.checked;
      times.hidden = !on.box.checked || all.box.checked;
    };
    on.box.addEventListener('change', sync);
    all.box.addEventListener('change', sync);
    sync();
    return {
      el,
      value: () => (!on.box.checked ? null : all.box.checked ? { from: '00:00', to: '00:00' } : { from: from.value || '18:00', to: to.value || '07:00' }),
    };
  }

  function actionsSection(u) {
    const actions = [];
    if (u.role === 'student') {
      actions.push(button(t('people.new_badge'), { iconName: 'qr', testid: 'person-badge', onclick: async () => {
        const ok = await confirmDialog({ title: t('people.new_badge'), text: t('people.new_badge_text', { name: u.display_name }), confirm: t('people.new_badge_go') });
        if (!ok) return;
        try {
          const { qr_token: token } = await call('POST', `/api/v1/users/${u.id}/badge`);
          invalidate('users');
          badgeDialog(u, token);
          load();
        } catch (err) { toast(errorText(err), { kind: 'error' }); }
      } }));
      // One student's printable badge: a lost badge is replaced without reprinting (and
      // voiding) the whole class's.
      actions.push(button(t('people.print_badge'), { iconName: 'printer', testid: 'person-badge-print', onclick: async () => {
        const ok = await confirmDialog({ title: t('people.print_badge_title', { name: u.display_name }), text: t('people.new_badge_text', { name: u.display_name }), confirm: t('people.print_badge_go') });
        if (!ok) return;
        // The sheet issues the badge itself, so what prints is exactly what was issued.
        window.open(`${at('/admin/badges.html')}?user=${encodeURIComponent(u.id)}&issue=1&lang=${getLang()}`, '_blank');
      } }));
    }
    actions.push(button(t('people.delete'), { kind: 'danger-outline', iconName: 'trash', testid: 'person-delete', onclick: async () => {
      const ok = await confirmDialog({ title: t('people.delete_title', { name: u.display_name }), text: t('people.delete_text'), confirm: t('people.delete'), danger: true });
      if (!ok) return;
      try {
        await call('DELETE', `/api/v1/users/${u.id}`);
        invalidate('users');
        split.close();
        toast(t('people.deleted', { name: u.display_name }), { kind: 'success' });
        load();
      } catch (err) { toast(errorText(err), { kind: 'error' }); }
    } }));
    return section(t('common.actions'), h('div', { class: 'panel-actions' }, actions));
  }

  // ---- create ------------------------------------------------------------------------

  function openCreate() {
    const role = select(ROLES.map((r) => ({ value: r, label: t(`role.${r}`) })), state.role || 'student', { 'data-testid': 'new-role' });
    const name = input({ 'data-testid': 'new-name', required: true });
    const username = input({ 'data-testid': 'new-username', autocomplete: 'off' });
    const password = input({ type: 'password', 'data-testid': 'new-password', autocomplete: 'new-password' });
    const card = input({ 'data-testid': 'new-card', autocomplete: 'off' });
    dialog({
      title: t('people.new'),
      testid: 'person-create',
      body: h('div', { class: 'form-grid' },
        field(t('people.f.role'), role),
        field(t('people.f.name'), name),
        field(t('people.f.username'), username, { hint: t('people.username_hint_new') }),
        field(t('people.f.password'), password),
        field(t('people.f.card'), card, { wide: true, hint: t('people.card_hint') })),
      actions: [
        { label: t('common.cancel'), kind: 'quiet' },
        { label: t('people.create'), kind: 'primary', testid: 'new-submit', onClick: async () => {
          const body = { role: role.value, display_name: name.value.trim() };
          if (username.value.trim()) body.username = username.value.trim();
          if (password.value) body.password = password.value;
          if (card.value.trim()) body.card_uid = card.value.trim();
          const { user } = await call('POST', '/api/v1/users', { body });
          invalidate('users');
          toast(t('people.created', { name: user.display_name }), { kind: 'success' });
          state.selected = user.id;
          split.close();
          await load();
          openDetail(user);
        } },
      ],
    });
  }

  load();
  return () => {};
}

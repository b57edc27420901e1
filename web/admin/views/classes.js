// Classes: each class with its class teacher and students. The panel renames a class,
// changes its teacher and members, opens its timetable, and prints its QR badges.

import { at } from '/common/api.js';
import { h, setChildren, initials } from '/common/dom.js';
import { t, getLang } from '/common/i18n.js';
import { call, isAdmin, invalidate, directory, byName, errorText } from '../lib.js';
import {
  pageHeader, splitView, panelHead, section, table, searchBox, button, field, input, select,
  formError, busy, dialog, confirmDialog, toast, personPicker, personChip, emptyState, loading,
  errorBox, avatar, facts,
} from '../ui.js';

export function mount(root, { params, navigate }) {
  const state = { q: '', groups: [], users: new Map(), selected: params.get('id') || null };
  const split = splitView();
  const tableBox = h('div', {}, loading());
  const count = h('span', { class: 'toolbar-note' });
  setChildren(root,
    pageHeader(t('nav.classes'), isAdmin() ? t('classes.sub') : t('classes.sub_teacher'),
      isAdmin() ? button(t('classes.new'), { kind: 'primary', iconName: 'plus', testid: 'class-new', onclick: () => openCreate() }) : null),
    split.el);
  setChildren(split.main, h('div', { class: 'card' },
    h('div', { class: 'toolbar' },
      searchBox({ placeholder: t('classes.search'), onSearch: (q) => { state.q = q.toLowerCase(); render(); } }),
      h('span', { class: 'grow' }), count),
    tableBox));

  const teachers = async () => (await directory.users()).filter((u) => u.role === 'teacher' || u.role === 'admin').sort(byName);
  const students = async () => (await directory.users()).filter((u) => u.role === 'student');

  async function load() {
    try {
      const [groups, users] = await Promise.all([call('GET', '/api/v1/groups'), directory.userMap()]);
      state.groups = groups.sort(byName);
      state.users = users;
      render();
    } catch (err) {
      setChildren(tableBox, errorBox(err, load));
    }
  }

  const teacherName = (g) => (g.teacher_id ? state.users.get(g.teacher_id)?.display_name || t('common.unknown') : null);

  function render() {
    const rows = state.groups.filter((g) => !state.q || g.name.toLowerCase().includes(state.q)
      || (teacherName(g) || '').toLowerCase().includes(state.q)
      || g.members.some((m) => m.display_name.toLowerCase().includes(state.q)));
    count.textContent = t('classes.count', { n: rows.length });
    if (!rows.length) {
      setChildren(tableBox, emptyState('school', state.q ? t('common.no_match') : t('classes.none'), state.q ? '' : (isAdmin() ? t('classes.none_hint') : t('classes.none_teacher'))));
      return;
    }
    setChildren(tableBox, table({
      testid: 'classes-table',
      columns: [
        { label: t('classes.col.name'), render: (g) => h('div', { class: 'cell-person' }, h('span', { class: 'class-mark', text: classMark(g.name) }), h('span', { text: g.name })) },
        { label: t('classes.col.teacher'), render: (g) => (teacherName(g) ? h('div', { class: 'cell-person' }, avatar(teacherName(g), { size: 'sm' }), h('span', { class: 'plain', text: teacherName(g) })) : h('span', { class: 'dim', text: '—' })) },
        { label: t('classes.col.students'), className: 'num', render: (g) => String(g.member_ids.length) },
        { label: t('classes.col.preview'), render: (g) => h('span', { class: 'dim clip', text: [...g.members].sort(byName).slice(0, 4).map((m) => m.display_name).join(getLang() === 'zh-CN' ? '、' : ', ') + (g.members.length > 4 ? ' …' : '') }) },
      ],
      rows,
      selected: state.selected,
      onRow: (g) => openDetail(g),
    }));
    if (state.selected && !split.isOpen) {
      const g = state.groups.find((x) => x.id === state.selected);
      if (g) openDetail(g);
    }
  }

  function markSelected(id) {
    state.selected = id;
    for (const tr of tableBox.querySelectorAll('tr[data-key]')) tr.classList.toggle('selected', tr.dataset.key === id);
  }

  async function openDetail(g) {
    markSelected(g.id);
    const body = h('div', { class: 'panel-body' });
    split.open(h('div', { 'data-testid': 'class-detail' },
      panelHead(g.name, { subtitle: t('classes.students_n', { n: g.member_ids.length }), onClose: () => split.close() }),
      body), { onClose: () => markSelected(null) });

    const actions = h('div', { class: 'panel-actions' },
      button(t('classes.timetable'), { iconName: 'timetable', testid: 'class-timetable', onclick: () => navigate('timetable', { group: g.id }) }),
      isAdmin() ? button(t('classes.badges'), { iconName: 'printer', testid: 'class-badges', onclick: () => openBadges(g) }) : null);

    if (!isAdmin()) {
      setChildren(body,
        section(t('classes.details'), facts([[t('classes.col.teacher'), teacherName(g) || '—']])),
        section(t('classes.members'), h('div', { class: 'chips' }, [...g.members].sort(byName).map((m) => personChip(m)))),
        section(null, actions));
      return;
    }

    const errors = formError();
    const name = input({ value: g.name, 'data-testid': 'class-name' });
    const teacherSel = select([{ value: '', label: t('classes.no_teacher') }], g.teacher_id || '', { 'data-testid': 'class-teacher' });
    teachers().then((list) => {
      setChildren(teacherSel, h('option', { value: '', text: t('classes.no_teacher') }), list.map((u) => h('option', { value: u.id, text: u.display_name })));
      teacherSel.value = g.teacher_id || '';
    });
    let members = [...g.members].sort(byName);
    const chips = h('div', { class: 'chips', 'data-testid': 'class-members' });
    const renderMembers = () => setChildren(chips, members.length ? members.map((m) => personChip(m, () => { members = members.filter((x) => x.id !== m.id); renderMembers(); }))
      : h('span', { class: 'dim', text: t('classes.no_members') }));
    renderMembers();
    const picker = personPicker({
      placeholder: t('classes.add_student'), load: students, testid: 'class-add-student',
      exclude: () => new Set(members.map((m) => m.id)),
      onPick: (u) => { members = [...members, { id: u.id, display_name: u.display_name }].sort(byName); renderMembers(); },
    });
    const save = button(t('common.save'), { kind: 'primary', testid: 'class-save' });
    save.addEventListener('click', () => busy(save, async () => {
      const patch = {};
      if (name.value.trim() !== g.name) patch.name = name.value.trim();
      if ((teacherSel.value || null) !== (g.teacher_id || null)) patch.teacher_id = teacherSel.value || null;
      const ids = members.map((m) => m.id);
      if (ids.length !== g.member_ids.length || ids.some((id) => !g.member_ids.includes(id))) patch.member_ids = ids;
      if (!Object.keys(patch).length) { toast(t('common.no_changes')); return; }
      const { group } = await call('PATCH', `/api/v1/groups/${g.id}`, { body: patch });
      invalidate('groups');
      toast(t('classes.saved', { name: group.name }), { kind: 'success' });
      const i = state.groups.findIndex((x) => x.id === g.id);
      if (i >= 0) state.groups[i] = group;
      render();
      openDetail(group);
    }, errors));
    const del = button(t('classes.delete'), { kind: 'danger-outline', iconName: 'trash', testid: 'class-delete', onclick: async () => {
      const ok = await confirmDialog({ title: t('classes.delete_title', { name: g.name }), text: t('classes.delete_text'), confirm: t('classes.delete'), danger: true });
      if (!ok) return;
      try {
        await call('DELETE', `/api/v1/groups/${g.id}`);
        invalidate('groups');
        split.close();
        toast(t('classes.deleted', { name: g.name }), { kind: 'success' });
        load();
      } catch (err) { toast(errorText(err), { kind: 'error' }); }
    } });
    actions.append(del);
    setChildren(body,
      section(t('classes.details'), h('div', { class: 'form-stack' },
        field(t('classes.f.name'), name),
        field(t('classes.f.teacher'), teacherSel))),
      section(t('classes.members'), h('div', { class: 'form-stack' }, chips, picker)),
      section(null, h('div', { class: 'form-stack' }, errors.el, h('div', {}, save))),
      section(t('common.actions'), actions));
  }

  async function openBadges(g) {
    const ok = await confirmDialog({
      title: t('classes.badges_title', { name: g.name }),
      text: t('classes.badges_text', { n: g.member_ids.length }),
      confirm: t('classes.badges_go'),
    });
    if (!ok) return;
    // The sheet issues the badges itself, so what prints is exactly what was issued.
    window.open(`${at('/admin/badges.html')}?group=${encodeURIComponent(g.id)}&issue=1&lang=${getLang()}`, '_blank');
  }

  function openCreate() {
    const name = input({ 'data-testid': 'new-class-name' });
    const teacherSel = select([{ value: '', label: t('classes.no_teacher') }], '', { 'data-testid': 'new-class-teacher' });
    teachers().then((list) => list.forEach((u) => teacherSel.append(h('option', { value: u.id, text: u.display_name }))));
    let members = [];
    const chips = h('div', { class: 'chips' });
    const renderMembers = () => setChildren(chips, members.map((m) => personChip(m, () => { members = members.filter((x) => x.id !== m.id); renderMembers(); })));
    const picker = personPicker({
      placeholder: t('classes.add_student'), load: students, testid: 'new-class-student',
      exclude: () => new Set(members.map((m) => m.id)),
      onPick: (u) => { members = [...members, u].sort(byName); renderMembers(); },
    });
    dialog({
      title: t('classes.new'), testid: 'class-create',
      body: h('div', { class: 'form-stack' },
        h('div', { class: 'form-grid' }, field(t('classes.f.name'), name), field(t('classes.f.teacher'), teacherSel)),
        field(t('classes.members'), h('div', { class: 'form-stack' }, chips, picker))),
      actions: [
        { label: t('common.cancel'), kind: 'quiet' },
        { label: t('classes.create'), kind: 'primary', testid: 'new-class-submit', onClick: async () => {
          const body = { name: name.value.trim(), member_ids: members.map((m) => m.id) };
          if (teacherSel.value) body.teacher_id = teacherSel.value;
          const { group } = await call('POST', '/api/v1/groups', { body });
          invalidate('groups');
          toast(t('classes.created', { name: group.name }), { kind: 'success' });
          state.selected = group.id;
          split.close();
          await load();
        } },
      ],
    });
  }

  load();
}

/** A short mark for a class: its number ("9-3" of "Class 9-3"), else its initials. */
function classMark(name) {
  const num = String(name).match(/\d+(?:[-–.]\d+)?/);
  return num && num[0].length <= 4 ? num[0] : initials(name);
}

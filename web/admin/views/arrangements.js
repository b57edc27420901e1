// Arrangements: a teacher places classes or students at a room in advance — an extra
// lesson, a meeting, a dormitory night. At its start they become present there; at its
// end they leave. Times are entered on the school's clock.

import { h, setChildren } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { call, isAdmin, session, directory, byName, errorText, userError, zonedToRfc3339, instantToZoned, today, addDays, formatDay, minutesOf } from '../lib.js';
import {
  pageHeader, splitView, panelHead, section, table, button, field, input, select, checkbox,
  dialog, confirmDialog, toast, personPicker, personChip, emptyState, loading, errorBox, segmented, chip, facts,
} from '../ui.js';
import { SLOT_KINDS } from './timetable.js';

const KIND_TONE = { lesson: 'accent', exam: 'amber', meeting: 'blue', dorm: 'violet', activity: 'green' };

export function mount(root) {
  const state = { room: '', when: 'upcoming', list: [], rooms: [], groups: [], users: new Map(), selected: null };
  const split = splitView();
  const tableBox = h('div', {}, loading());
  const roomSel = select([{ value: '', label: t('arr.all_rooms') }], '', { 'data-testid': 'arr-room', onchange: () => { state.room = roomSel.value; load(); } });
  setChildren(root,
    pageHeader(t('nav.arrangements'), t('arr.sub'),
      button(t('arr.new'), { kind: 'primary', iconName: 'plus', testid: 'arr-new', onclick: () => openCreate() })),
    split.el);
  setChildren(split.main, h('div', { class: 'card' },
    h('div', { class: 'toolbar' },
      h('div', { class: 'tt-target' }, roomSel),
      segmented([{ value: 'upcoming', label: t('arr.upcoming') }, { value: 'past', label: t('arr.past') }], state.when, (v) => { state.when = v; render(); }, 'arr-when')),
    tableBox));

  async function loadDirectory() {
    const [rooms, groups, users] = await Promise.all([directory.rooms(), directory.groups(), directory.userMap()]);
    state.rooms = [...rooms].sort(byName);
    state.groups = [...groups].sort(byName);
    state.users = users;
    for (const r of state.rooms) roomSel.append(h('option', { value: r.id, text: r.name }));
  }

  async function load() {
    try {
      const q = state.room ? `?room_id=${encodeURIComponent(state.room)}` : '';
      state.list = await call('GET', `/api/v1/arrangements${q}`);
      render();
    } catch (err) {
      setChildren(tableBox, errorBox(err, load));
    }
  }

  const roomName = (id) => state.rooms.find((r) => r.id === id)?.name || '';
  const groupName = (id) => state.groups.find((g) => g.id === id)?.name || t('common.unknown');
  const userName = (id) => state.users.get(id)?.display_name || t('common.unknown');

  function when(a) {
    const s = instantToZoned(a.starts_at);
    const e = instantToZoned(a.ends_at);
    const day = formatDay(s.date, { weekday: 'short', day: 'numeric', month: 'short' });
    return e.date === s.date ? `${day} ${s.hm}–${e.hm}` : `${day} ${s.hm} – ${formatDay(e.date, { weekday: 'short', day: 'numeric', month: 'short' })} ${e.hm}`;
  }

  function who(a) {
    const parts = (a.group_ids || []).map(groupName);
    if (a.user_ids?.length) parts.push(t('arr.students_n', { n: a.user_ids.length }));
    return parts.join(', ') || '—';
  }

  function render() {
    const now = Date.now();
    const rows = state.list
      .filter((a) => (state.when === 'upcoming' ? new Date(a.ends_at).getTime() >= now : new Date(a.ends_at).getTime() < now))
      .sort((a, b) => (state.when === 'upcoming' ? 1 : -1) * (new Date(a.starts_at) - new Date(b.starts_at)));
    if (!rows.length) {
      setChildren(tableBox, emptyState('arrangements', state.when === 'upcoming' ? t('arr.none') : t('arr.none_past'), state.when === 'upcoming' ? t('arr.none_hint') : ''));
      return;
    }
    setChildren(tableBox, table({
      testid: 'arr-table',
      columns: [
        { label: t('arr.col.when'), className: 'nowrap', render: (a) => {
          const live = new Date(a.starts_at).getTime() <= now && new Date(a.ends_at).getTime() > now;
          return h('div', {}, h('span', { text: when(a) }), live ? h('span', { class: 'cell-sub live', text: t('arr.now') }) : null);
        } },
        { label: t('arr.col.kind'), render: (a) => chip(t(`kind.${a.kind}`), KIND_TONE[a.kind]) },
        { label: t('arr.col.title'), render: (a) => h('strong', { text: a.title }) },
        { label: t('arr.col.room'), render: (a) => roomName(a.room_id) },
        { label: t('arr.col.who'), render: (a) => who(a) },
        { label: t('arr.col.teacher'), render: (a) => (a.teacher_id ? userName(a.teacher_id) : '—') },
      ],
      rows, selected: state.selected, onRow: (a) => openDetail(a),
    }));
  }

  function openDetail(a) {
    state.selected = a.id;
    render();
    const mine = isAdmin() || a.created_by === session.user.id || a.teacher_id === session.user.id;
    split.open(h('div', { 'data-testid': 'arr-detail' },
      panelHead(a.title, { subtitle: when(a), onClose: () => split.close() }),
      h('div', { class: 'panel-body' },
        section(t('tt.details'), facts([
          [t('arr.col.kind'), chip(t(`kind.${a.kind}`), KIND_TONE[a.kind])],
          [t('arr.col.room'), roomName(a.room_id) || '—'],
          [t('arr.col.teacher'), a.teacher_id ? userName(a.teacher_id) : '—'],
          [t('arr.created_by'), a.created_by ? userName(a.created_by) : '—'],
        ])),
        section(t('arr.who'),
          (a.group_ids || []).length ? h('div', { class: 'chips' }, a.group_ids.map((g) => chip(groupName(g), 'accent'))) : null,
          (a.user_ids || []).length ? h('div', { class: 'chips', style: { marginTop: '8px' } }, a.user_ids.map((id) => personChip({ id, display_name: userName(id) }))) : null,
          !(a.group_ids || []).length && !(a.user_ids || []).length ? h('p', { class: 'dim', text: '—' }) : null),
        mine ? section(null, h('div', { class: 'panel-actions' },
          button(t('arr.cancel'), { kind: 'danger-outline', iconName: 'trash', testid: 'arr-delete', onclick: () => remove(a) }))) : null)),
    { onClose: () => { state.selected = null; render(); } });
  }

  async function remove(a) {
    const ok = await confirmDialog({ title: t('arr.cancel_title'), text: t('arr.cancel_text', { title: a.title, when: when(a) }), confirm: t('arr.cancel'), danger: true });
    if (!ok) return;
    try {
      await call('DELETE', `/api/v1/arrangements/${a.id}`);
      split.close();
      toast(t('arr.cancelled'), { kind: 'success' });
      load();
    } catch (err) { toast(errorText(err), { kind: 'error' }); }
  }

  function openCreate() {
    const d = today();
    const room = select(state.rooms.map((r) => ({ value: r.id, label: r.name })), state.room || state.rooms[0]?.id, { 'data-testid': 'arr-f-room' });
    const kind = select(SLOT_KINDS.map((k) => ({ value: k, label: t(`kind.${k}`) })), 'lesson', { 'data-testid': 'arr-f-kind' });
    const title = input({ 'data-testid': 'arr-f-title', placeholder: t('arr.title_ph') });
    const date = input({ type: 'date', value: d.date, min: d.date, 'data-testid': 'arr-f-date' });
    const start = input({ type: 'time', value: '16:00', 'data-testid': 'arr-f-start', step: 300 });
    const end = input({ type: 'time', value: '17:00', 'data-testid': 'arr-f-end', step: 300 });
    // Overnight (dormitory): an end earlier than the start means the next morning.
    kind.addEventListener('change', () => { if (kind.value === 'dorm') { start.value = '21:00'; end.value = '07:00'; } });
    const teachers = [...state.users.values()].filter((u) => u.role === 'teacher' || u.role === 'admin').sort(byName);
    const teacher = select([{ value: '', label: t('arr.no_teacher') }, ...teachers.map((u) => ({ value: u.id, label: u.display_name }))],
      session.user.role === 'teacher' ? session.user.id : '', { 'data-testid': 'arr-f-teacher' });
    const groupChecks = state.groups.map((g) => ({ g, ...checkbox(g.name, false, { 'data-group-id': g.id }) }));
    let students = [];
    const chips = h('div', { class: 'chips' });
    const renderStudents = () => setChildren(chips, students.map((u) => personChip(u, () => { students = students.filter((x) => x.id !== u.id); renderStudents(); })));
    const picker = personPicker({
      placeholder: t('arr.add_student'), testid: 'arr-f-student',
      load: async () => (await directory.users()).filter((u) => u.role === 'student'),
      exclude: () => new Set(students.map((u) => u.id)),
      onPick: (u) => { students = [...students, u]; renderStudents(); },
    });
    dialog({
      title: t('arr.new'), testid: 'arr-form', wide: true,
      body: h('div', { class: 'form-stack' },
        h('div', { class: 'form-grid three' },
          field(t('tt.f.kind'), kind), field(t('tt.f.title'), title), field(t('tt.f.room'), room),
          field(t('arr.f.date'), date), field(t('tt.f.start'), start), field(t('tt.f.end'), end, { hint: t('arr.f.end_hint') })),
        field(t('arr.f.classes'), groupChecks.length ? h('div', { class: 'checks' }, groupChecks.map((c) => c.el)) : h('span', { class: 'dim', text: t('tt.no_classes') })),
        field(t('arr.f.students'), h('div', { class: 'form-stack' }, chips, picker)),
        h('div', { class: 'form-grid' }, field(t('tt.f.teacher'), teacher))),
      actions: [
        { label: t('common.cancel'), kind: 'quiet' },
        { label: t('arr.create'), kind: 'primary', testid: 'arr-submit', onClick: async () => {
          if (!date.value || !start.value || !end.value) throw userError(t('arr.need_time'));
          const endDate = minutesOf(end.value) <= minutesOf(start.value) ? addDays(date.value, 1) : date.value;
          const body = {
            room_id: room.value, kind: kind.value, title: title.value.trim() || t(`kind.${kind.value}`),
            starts_at: zonedToRfc3339(date.value, start.value), ends_at: zonedToRfc3339(endDate, end.value),
            group_ids: groupChecks.filter((c) => c.box.checked).map((c) => c.g.id),
            user_ids: students.map((u) => u.id),
          };
          if (!body.group_ids.length && !body.user_ids.length) throw userError(t('arr.need_who'));
          if (teacher.value) body.teacher_id = teacher.value;
          const res = await call('POST', '/api/v1/arrangements', { body });
          toast(t('arr.created'), { kind: 'success' });
          state.selected = (res.arrangement || res).id;
          await load();
        } },
      ],
    });
  }

  loadDirectory().then(load).catch((err) => setChildren(tableBox, errorBox(err, () => loadDirectory().then(load))));
}

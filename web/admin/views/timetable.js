// Timetable: a week grid (days × time of day) for one room or one class. Clicking an
// empty cell adds a slot there; a slot shows its kind by colour, its title, class and
// teacher; slots that overlap another in the same room, class or teacher are marked red
// where they are (a warning, the server still saves them).

import { h, setChildren } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { call, isAdmin, directory, byName, errorText, userError, minutesOf, hmOf, weekdayNames, today, formatDay, session } from '../lib.js';
import {
  pageHeader, splitView, panelHead, section, button, field, input, select, formError, busy,
  dialog, confirmDialog, toast, emptyState, loading, errorBox, segmented, facts, chip,
} from '../ui.js';
import { icon } from '/common/icons.js';

export const SLOT_KINDS = ['lesson', 'exam', 'meeting', 'dorm', 'activity'];
const HOUR_PX = 64;
const CELL_MIN = 30;
/** How far (in % of the column) each overlapping slot is indented. */
const CASCADE = 24;

export function mount(root, { params, navigate }) {
  const state = {
    mode: params.get('group') ? 'group' : 'room',
    target: params.get('group') || params.get('room') || '',
    rooms: [], groups: [], users: new Map(), slots: [], selected: null,
  };
  const split = splitView();
  const gridBox = h('div', { class: 'tt-box' }, loading());
  const targetSel = select([], '', { 'data-testid': 'tt-target', onchange: () => go(state.mode, targetSel.value) });
  const weekendBtn = h('button', { type: 'button', class: 'toggle-btn', 'data-testid': 'tt-weekend', onclick: () => { state.weekend = !state.weekend; renderGrid(); } }, t('tt.weekend'));
  const addBtn = isAdmin() ? button(t('tt.add'), { kind: 'primary', iconName: 'plus', testid: 'tt-add', onclick: () => openForm({ weekday: 1, start: '08:00', end: '08:45' }) }) : null;
  setChildren(root,
    pageHeader(t('nav.timetable'), t('tt.sub'), addBtn),
    split.el);
  setChildren(split.main, h('div', { class: 'card' },
    h('div', { class: 'toolbar' },
      segmented([{ value: 'room', label: t('tt.by_room') }, { value: 'group', label: t('tt.by_class') }], state.mode, (m) => go(m, ''), 'tt-mode'),
      h('div', { class: 'tt-target' }, targetSel),
      weekendBtn,
      h('span', { class: 'grow' }),
      h('div', { class: 'legend' }, SLOT_KINDS.map((k) => h('span', { class: `legend-item kind-${k}` }, h('span', { class: 'swatch' }), t(`kind.${k}`))),
        h('span', { class: 'legend-item conflict' }, h('span', { class: 'swatch' }), t('tt.conflict')))),
    gridBox));

  /** Switches room/class; keeps it in the address so a reload comes back here. */
  function go(mode, target) {
    navigate('timetable', { [mode === 'group' ? 'group' : 'room']: target || firstTarget(mode) });
  }
  const firstTarget = (mode) => (mode === 'group' ? state.groups[0]?.id : state.rooms[0]?.id) || '';

  async function load() {
    try {
      const [rooms, groups, users] = await Promise.all([directory.rooms(), directory.groups(), directory.userMap()]);
      const kindOrder = ['classroom', 'lab', 'office', 'dorm', 'other'];
      state.rooms = [...rooms].sort((a, b) => kindOrder.indexOf(a.kind) - kindOrder.indexOf(b.kind) || byName(a, b));
      state.groups = [...groups].sort(byName);
      state.users = users;
      const list = state.mode === 'group' ? state.groups : state.rooms;
      setChildren(targetSel, list.length ? list.map((x) => h('option', { value: x.id, text: x.name }))
        : h('option', { value: '', text: state.mode === 'group' ? t('tt.no_classes') : t('tt.no_rooms') }));
      if (!state.target || !list.some((x) => x.id === state.target)) state.target = list[0]?.id || '';
      targetSel.value = state.target;
      if (!state.target) {
        setChildren(gridBox, emptyState('timetable', state.mode === 'group' ? t('tt.no_classes') : t('tt.no_rooms'), t('tt.none_hint')));
        return;
      }
      await loadSlots();
    } catch (err) {
      setChildren(gridBox, errorBox(err, load));
    }
  }

  async function loadSlots() {
    const q = state.mode === 'group' ? `group_id=${encodeURIComponent(state.target)}` : `room_id=${encodeURIComponent(state.target)}`;
    try {
      state.slots = await call('GET', `/api/v1/timetable?${q}`);
      renderGrid();
      if (state.selected) {
        const s = state.slots.find((x) => x.id === state.selected);
        if (s) openDetail(s); else split.close();
      }
    } catch (err) {
      setChildren(gridBox, errorBox(err, loadSlots));
    }
  }

  const roomName = (id) => state.rooms.find((r) => r.id === id)?.name || '';
  const groupName = (id) => state.groups.find((g) => g.id === id)?.name || '';
  const userName = (id) => state.users.get(id)?.display_name || '';

  function renderGrid() {
    const slots = state.slots;
    let from = 7 * 60;
    let to = 18 * 60;
    for (const s of slots) {
      from = Math.min(from, Math.floor(minutesOf(s.start) / 60) * 60);
      to = Math.max(to, Math.ceil(minutesOf(s.end) / 60) * 60);
    }
    to = Math.min(to, 24 * 60);
    const hours = (to - from) / 60;
    const names = weekdayNames('short');
    const todayWd = today().weekday;
    // Saturday and Sunday only when something happens then (or when asked for).
    const weekend = state.weekend || slots.some((x) => Number(x.weekday) >= 6);
    const days = weekend ? 7 : 5;
    weekendBtn.hidden = slots.some((x) => Number(x.weekday) >= 6);
    weekendBtn.classList.toggle('active', weekend);
    weekendBtn.setAttribute('aria-pressed', String(weekend));
    const holidays = new Set(session.settings?.holidays || []);
    const head = h('div', { class: 'tt-head' }, h('div', { class: 'tt-corner' }),
      names.slice(0, days).map((n, i) => h('div', { class: `tt-day${i + 1 === todayWd ? ' today' : ''}${i >= 5 ? ' weekend' : ''}`, text: n })));
    const axis = h('div', { class: 'tt-axis' }, Array.from({ length: hours }, (_, i) => h('div', { class: 'tt-hour', style: { height: `${HOUR_PX}px` } }, h('span', { text: hmOf(from + i * 60) }))));
    const cols = names.slice(0, days).map((_, i) => {
      const wd = i + 1;
      const col = h('div', { class: `tt-col${wd === todayWd ? ' today' : ''}${i >= 5 ? ' weekend' : ''}`, style: { height: `${hours * HOUR_PX}px` }, 'data-weekday': wd });
      for (let m = from; m < to; m += CELL_MIN) {
        col.append(h('button', {
          type: 'button', class: `tt-cell${(m % 60) === 0 ? ' on-hour' : ''}`, tabindex: isAdmin() ? '0' : '-1', disabled: !isAdmin(),
          'data-testid': 'tt-cell', 'data-weekday': wd, 'data-time': hmOf(m),
          'aria-label': t('tt.add_at', { day: names[i], time: hmOf(m) }),
          style: { top: `${((m - from) / 60) * HOUR_PX}px`, height: `${(CELL_MIN / 60) * HOUR_PX}px` },
          onclick: () => openForm({ weekday: wd, start: hmOf(m), end: hmOf(Math.min(m + 45, 24 * 60 - 1)) }),
        }));
      }
      const daySlots = slots.filter((s) => Number(s.weekday) === wd).sort((a, b) => minutesOf(a.start) - minutesOf(b.start));
      for (const { slot, lane } of layOut(daySlots)) col.append(slotBlock(slot, from, lane));
      return col;
    });
    const grid = h('div', { class: 'tt-grid', 'data-testid': 'tt-grid' }, head, h('div', { class: 'tt-body' }, axis, cols));
    grid.style.setProperty('--days', String(days));
    const conflicts = slots.filter((s) => s.conflicts?.length).length;
    const note = conflicts ? h('div', { class: 'note tt-note', 'data-testid': 'tt-conflicts' }, icon('alert'), h('span', { text: t('tt.conflicts_n', { n: conflicts }) })) : null;
    const term = session.settings?.term_start && session.settings?.term_end
      ? h('span', { class: 'tt-term', text: t('tt.term', { from: formatDay(session.settings.term_start), to: formatDay(session.settings.term_end) }) }) : null;
    setChildren(gridBox, note, grid,
      h('div', { class: 'table-foot' }, h('span', { text: slots.length ? t('tt.slots_n', { n: slots.length }) : t('tt.empty_hint') }), term,
        holidays.size ? h('span', { text: t('tt.holidays_n', { n: holidays.size }) }) : null));
  }

  /** Cascade levels (lanes) for slots that overlap within one day column. */
  function layOut(daySlots) {
    const out = [];
    let cluster = [];
    let clusterEnd = -1;
    const flush = () => {
      const laneEnds = [];
      const placed = cluster.map((slot) => {
        const s = minutesOf(slot.start);
        let lane = laneEnds.findIndex((end) => end <= s);
        if (lane < 0) { lane = laneEnds.length; laneEnds.push(0); }
        laneEnds[lane] = minutesOf(slot.end);
        return { slot, lane };
      });
      for (const p of placed) out.push({ ...p, lanes: laneEnds.length });
      cluster = [];
    };
    for (const slot of daySlots) {
      if (cluster.length && minutesOf(slot.start) >= clusterEnd) flush();
      cluster.push(slot);
      clusterEnd = Math.max(cluster.length === 1 ? 0 : clusterEnd, minutesOf(slot.end));
    }
    if (cluster.length) flush();
    return out;
  }

  function slotBlock(s, from, lane) {
    const top = ((minutesOf(s.start) - from) / 60) * HOUR_PX;
    const height = Math.max(22, ((minutesOf(s.end) - minutesOf(s.start)) / 60) * HOUR_PX - 2);
    const conflict = Boolean(s.conflicts?.length);
    const sub = state.mode === 'group'
      ? [roomName(s.room_id), userName(s.teacher_id)].filter(Boolean).join(' · ')
      : [groupName(s.group_id), userName(s.teacher_id)].filter(Boolean).join(' · ');
    return h('button', {
      type: 'button',
      class: `tt-slot kind-${s.kind}${conflict ? ' conflict' : ''}${state.selected === s.id ? ' selected' : ''}${height < 38 ? ' compact' : ''}`,
      'data-testid': 'tt-slot', 'data-slot-id': s.id, 'data-conflict': conflict ? 'true' : 'false',
      title: `${s.title} ${s.start}–${s.end}${conflict ? ` — ${t('tt.conflict')}` : ''}`,
      // Overlapping slots cascade (each later one indented and on top), so every block
      // keeps most of the column's width and its title stays readable.
      style: { top: `${top + 1}px`, height: `${height}px`, left: `calc(${lane * CASCADE}% + 3px)`, width: `calc(${100 - lane * CASCADE}% - 6px)`, zIndex: String(2 + lane) },
      onclick: (e) => { e.stopPropagation(); openDetail(s); },
    },
    h('span', { class: 'tt-slot-title', text: s.title || t(`kind.${s.kind}`) }),
    h('span', { class: 'tt-slot-time', text: `${s.start.slice(0, 5)}–${s.end.slice(0, 5)}` }),
    sub && height >= 60 ? h('span', { class: 'tt-slot-sub', text: sub }) : null,
    conflict ? h('span', { class: 'tt-slot-flag', 'aria-label': t('tt.conflict') }, icon('alert')) : null);
  }

  /** "Maths · Monday 08:00–08:45 · Room 301 · Class 7-1 · Ms Teach": an overlapping slot. */
  function conflictText(o) {
    return [o.title || t(`kind.${o.kind}`), describe(o), o.room_name || roomName(o.room_id), groupName(o.group_id), userName(o.teacher_id)].filter(Boolean).join(' · ');
  }

  function describe(s) {
    const names = weekdayNames('long');
    return `${names[Number(s.weekday) - 1]} ${s.start.slice(0, 5)}–${s.end.slice(0, 5)}`;
  }

  function openDetail(s) {
    state.selected = s.id;
    for (const b of gridBox.querySelectorAll('.tt-slot')) b.classList.toggle('selected', b.dataset.slotId === s.id);
    // The server describes each overlapping slot (room name included), so one in another
    // room's or class's timetable is named too.
    const others = s.conflicts_with || (s.conflicts || []).map((id) => state.slots.find((x) => x.id === id) || { id });
    split.open(h('div', { 'data-testid': 'slot-detail' },
      panelHead(s.title || t(`kind.${s.kind}`), { subtitle: describe(s), onClose: () => split.close() }),
      h('div', { class: 'panel-body' },
        others.length ? h('div', { class: 'note note-conflict', 'data-testid': 'slot-conflicts' }, icon('alert'),
          h('div', {}, h('strong', { text: t('tt.conflict_with') }),
            h('ul', {}, others.map((o) => h('li', { 'data-testid': 'slot-conflict', text: o.weekday ? conflictText(o) : t('tt.conflict_elsewhere') }))))) : null,
        section(t('tt.details'), facts([
          [t('tt.f.kind'), chip(t(`kind.${s.kind}`), { lesson: 'accent', exam: 'amber', meeting: 'blue', dorm: 'violet', activity: 'green' }[s.kind] || 'neutral')],
          [t('tt.f.room'), roomName(s.room_id) || '—'],
          [t('tt.f.class'), groupName(s.group_id) || '—'],
          [t('tt.f.teacher'), userName(s.teacher_id) || '—'],
          [t('tt.f.valid'), s.valid_from || s.valid_until ? `${s.valid_from ? formatDay(s.valid_from, { day: 'numeric', month: 'short', year: 'numeric' }) : '…'} – ${s.valid_until ? formatDay(s.valid_until, { day: 'numeric', month: 'short', year: 'numeric' }) : '…'}` : t('tt.always')],
        ])),
        isAdmin() ? section(null, h('div', { class: 'panel-actions' },
          button(t('common.edit'), { kind: 'primary', iconName: 'pen', testid: 'slot-edit', onclick: () => openForm(s) }),
          button(t('common.delete'), { kind: 'danger-outline', iconName: 'trash', testid: 'slot-delete', onclick: () => remove(s) }))) : null)),
    { onClose: () => { state.selected = null; for (const b of gridBox.querySelectorAll('.tt-slot.selected')) b.classList.remove('selected'); } });
  }

  async function remove(s) {
    const ok = await confirmDialog({ title: t('tt.delete_title'), text: t('tt.delete_text', { what: `${s.title} · ${describe(s)}` }), confirm: t('common.delete'), danger: true });
    if (!ok) return;
    try {
      await call('DELETE', `/api/v1/timetable/${s.id}`);
      split.close();
      toast(t('tt.deleted'), { kind: 'success' });
      loadSlots();
    } catch (err) { toast(errorText(err), { kind: 'error' }); }
  }

  /** The add/edit form; `s.id` present means editing. */
  function openForm(s) {
    const editing = Boolean(s.id);
    const teachers = [...state.users.values()].filter((u) => u.role === 'teacher' || u.role === 'admin').sort(byName);
    const names = weekdayNames('long');
    const kind = select(SLOT_KINDS.map((k) => ({ value: k, label: t(`kind.${k}`) })), s.kind || 'lesson', { 'data-testid': 'slot-kind' });
    const title = input({ value: s.title || '', 'data-testid': 'slot-title', placeholder: t('tt.title_ph') });
    const room = select(state.rooms.map((r) => ({ value: r.id, label: r.name })), s.room_id || (state.mode === 'room' ? state.target : state.rooms[0]?.id), { 'data-testid': 'slot-room' });
    // Every slot belongs to a class (the server requires one): it is who becomes present.
    const group = select(state.groups.map((g) => ({ value: g.id, label: g.name })),
      s.group_id || (state.mode === 'group' ? state.target : state.groups[0]?.id), { 'data-testid': 'slot-group' });
    const classTeacher = (id) => state.groups.find((g) => g.id === id)?.teacher_id || '';
    const teacher = select([{ value: '', label: t('tt.no_teacher') }, ...teachers.map((u) => ({ value: u.id, label: u.display_name }))],
      editing ? s.teacher_id || '' : classTeacher(group.value), { 'data-testid': 'slot-teacher' });
    if (!editing) teacher.dataset.auto = '1';
    teacher.addEventListener('change', () => { delete teacher.dataset.auto; });
    const weekday = select(names.map((n, i) => ({ value: String(i + 1), label: n })), String(s.weekday || 1), { 'data-testid': 'slot-weekday' });
    const start = input({ type: 'time', value: (s.start || '08:00').slice(0, 5), 'data-testid': 'slot-start', step: 300 });
    const end = input({ type: 'time', value: (s.end || '08:45').slice(0, 5), 'data-testid': 'slot-end', step: 300 });
    const from = input({ type: 'date', value: s.valid_from || session.settings?.term_start || '', 'data-testid': 'slot-from' });
    const until = input({ type: 'date', value: s.valid_until || session.settings?.term_end || '', 'data-testid': 'slot-until' });
    // A class chosen: its class teacher is the default teacher, until one is picked by hand.
    group.addEventListener('change', () => {
      if (!teacher.value || teacher.dataset.auto) teacher.value = classTeacher(group.value);
    });
    dialog({
      title: editing ? t('tt.edit_title') : t('tt.add_title'),
      testid: 'slot-form', wide: true,
      body: h('div', { class: 'form-grid three' },
        h('div', { class: 'span-2' }, field(t('tt.f.title'), title)),
        field(t('tt.f.kind'), kind),
        field(t('tt.f.class'), group),
        field(t('tt.f.teacher'), teacher),
        field(t('tt.f.room'), room),
        field(t('tt.f.weekday'), weekday),
        field(t('tt.f.start'), start),
        field(t('tt.f.end'), end),
        field(t('tt.f.from'), from, { hint: t('tt.f.from_hint') }),
        field(t('tt.f.until'), until)),
      actions: [
        { label: t('common.cancel'), kind: 'quiet' },
        { label: editing ? t('common.save') : t('tt.add'), kind: 'primary', testid: 'slot-submit', onClick: async () => {
          const body = {
            room_id: room.value, weekday: Number(weekday.value), start: start.value, end: end.value,
            kind: kind.value, title: title.value.trim() || t(`kind.${kind.value}`),
          };
          if (!group.value) throw userError(t('tt.need_class'));
          body.group_id = group.value;
          if (teacher.value || (editing && s.teacher_id)) body.teacher_id = teacher.value || null;
          if (from.value || editing) body.valid_from = from.value || null;
          if (until.value || editing) body.valid_until = until.value || null;
          if (minutesOf(body.end) <= minutesOf(body.start)) throw userError(t('tt.end_after_start'));
          const res = editing
            ? await call('PATCH', `/api/v1/timetable/${s.id}`, { body })
            : await call('POST', '/api/v1/timetable', { body });
          const slot = res.slot || res;
          const clash = slot.conflicts_with?.[0];
          toast(clash ? t('tt.saved_conflict_named', { slot: conflictText(clash), n: slot.conflicts_with.length - 1 }) : slot.conflicts?.length ? t('tt.saved_conflict') : t('tt.saved'),
            { kind: slot.conflicts?.length ? 'error' : 'success' });
          state.selected = slot.id;
          await loadSlots();
        } },
      ],
    });
  }

  load();
}

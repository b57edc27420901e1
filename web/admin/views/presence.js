// Presence: every doorplate as a card on a floor-plan-like board, grouped by the kind of
// room — online or not, how many are present, and who, coloured by how they came to be
// there (proved at the door, timetable, placed by a teacher now or in advance).
// Refreshes every 3 s and at once on a live `presence.changed`.

import { h, setChildren } from '/common/dom.js';
import { t, compareNames } from '/common/i18n.js';
import { call, byName, formatWhen, debounce, formatAgo, isAdmin, directory, zonedToRfc3339, today, hmOf, minutesOf } from '../lib.js';
import {
  pageHeader, splitView, panelHead, section, statusDot, loading, errorBox, emptyState, avatar, button, input, formError, busy,
  personPicker, personChip, toast, confirmDialog,
} from '../ui.js';
import { ROOM_KINDS, plateState, sourceChip } from './rooms.js';

const REFRESH_MS = 3000;
const SOURCES = ['active', 'timetable', 'teacher_now', 'teacher_advance'];
const SHOW_NAMES = 12;

export function mount(root, { onEvent }) {
  const state = { plates: [], rooms: new Map(), presence: [], users: new Map(), selected: null, updated: null, error: null };
  const split = splitView();
  const board = h('div', { class: 'board', 'data-testid': 'presence-board' }, loading());
  const stats = h('div', { class: 'stats', 'data-testid': 'presence-stats' });
  const live = h('span', { class: 'live-badge', 'data-testid': 'presence-live' });
  setChildren(root,
    pageHeader(t('nav.presence'), t('presence.sub'), live),
    stats,
    h('div', { class: 'legend legend-sources' }, SOURCES.map((s) => h('span', { class: `legend-item src-${s}` }, h('span', { class: 'swatch' }), t(`source.${s}`)))),
    split.el);
  setChildren(split.main, board);

  let stopped = false;
  let timer = null;
  let usersAt = 0;
  async function load() {
    clearTimeout(timer);
    try {
      const needUsers = Date.now() - usersAt > 30_000;
      const [plates, rooms, presence, users] = await Promise.all([
        call('GET', '/api/v1/doorplates'),
        call('GET', '/api/v1/rooms'),
        call('GET', '/api/v1/presence'),
        needUsers ? call('GET', '/api/v1/users?role=student&limit=1000') : null,
      ]);
      if (stopped) return;
      state.plates = plates;
      state.rooms = new Map(rooms.map((r) => [r.id, r]));
      state.presence = presence;
      if (users) {
        state.users = new Map(users.map((u) => [u.id, u]));
        usersAt = Date.now();
      }
      // Someone not in the student list (a teacher placed, say): fetch their names once.
      const missing = [...new Set(presence.map((p) => p.user_id))].filter((id) => !state.users.has(id)).slice(0, 20);
      await Promise.all(missing.map((id) => call('GET', `/api/v1/users/${id}`).then((r) => state.users.set(id, r.user)).catch(() => state.users.set(id, { id, display_name: t('common.unknown') }))));
      state.updated = new Date();
      state.error = null;
      render();
    } catch (err) {
      if (stopped) return;
      state.error = err;
      if (!state.plates.length) setChildren(board, errorBox(err, load));
      renderLive();
    }
    if (!stopped) timer = setTimeout(load, REFRESH_MS);
  }
  const soon = debounce(load, 150);
  const off = onEvent('*', (frame) => { if (frame.type === 'presence.changed' || frame.type.startsWith('presence.') || frame.type === 'resync') soon(); });

  const name = (id) => state.users.get(id)?.display_name || '…';
  const atPlate = (plateId) => state.presence.filter((p) => p.doorplate_id === plateId)
    .sort((a, b) => SOURCES.indexOf(a.source) - SOURCES.indexOf(b.source) || compareNames(name(a.user_id), name(b.user_id)));

  function renderLive() {
    setChildren(live, state.error
      ? statusDot(false, t('presence.stale'), 'wait')
      : statusDot(true, t('presence.live', { time: state.updated ? formatWhen(state.updated, { seconds: true }).split(/,\s*|\s+/).pop() : '' })));
  }

  function render() {
    renderLive();
    const online = state.plates.filter((p) => p.online).length;
    // The table has one row per doorplate, and a room with two doors shows the same
    // presence on both; R2 counts rooms. So presences are counted per student and room,
    // and students once: a student in two rooms is one student and two presences, which
    // the labels say, so the by-source figures add up to the presences shown beside them.
    const roomOf = new Map(state.plates.map((p) => [p.id, p.room_id]));
    const places = new Map();
    for (const e of state.presence) places.set(`${e.user_id}@${roomOf.get(e.doorplate_id) ?? `plate ${e.doorplate_id}`}`, e.source);
    const students = new Set(state.presence.map((p) => p.user_id)).size;
    const bySource = Object.fromEntries(SOURCES.map((s) => [s, 0]));
    for (const src of places.values()) bySource[src] = (bySource[src] || 0) + 1;
    setChildren(stats,
      stat(t('presence.stat.online'), `${online} / ${state.plates.length}`, 'monitor'),
      stat(t('presence.stat.present'), String(students), 'people', 'stat-present'),
      h('div', { class: 'stat-group', 'data-testid': 'stat-places' },
        stat(t('presence.stat.places'), String(places.size), null, 'stat-places-total'),
        h('span', { class: 'stat-op', text: '=' }),
        stat(t('source.active'), String(bySource.active), null, 'stat-active', 'active'),
        h('span', { class: 'stat-op', text: '+' }),
        stat(t('source.timetable'), String(bySource.timetable), null, 'stat-timetable', 'timetable'),
        h('span', { class: 'stat-op', text: '+' }),
        stat(t('presence.stat.placed'), String(bySource.teacher_now + bySource.teacher_advance), null, 'stat-placed', 'teacher_now')),
      h('p', { class: 'stat-note', 'data-testid': 'stat-note', text: t('presence.stat.note') }));
    if (!state.plates.length) {
      setChildren(board, h('div', { class: 'card' }, emptyState('pin', t('presence.none'), t('presence.none_hint'))));
      return;
    }
    const groups = ROOM_KINDS.map((kind) => ({
      kind,
      plates: state.plates.filter((p) => (state.rooms.get(p.room_id)?.kind || 'other') === kind)
        .sort((a, b) => byName(state.rooms.get(a.room_id) || a, state.rooms.get(b.room_id) || b) || byName(a, b)),
    })).filter((g) => g.plates.length);
    setChildren(board, groups.map((g) => h('section', { class: 'floor' },
      h('h2', { class: 'floor-title' }, h('span', { text: t(`presence.kind.${g.kind}`) }), h('span', { class: 'floor-count', text: String(g.plates.length) })),
      h('div', { class: 'floor-grid' }, g.plates.map(plateCard)))));
    if (state.selected) {
      const p = state.plates.find((x) => x.id === state.selected);
      if (p && split.isOpen) renderDetail(p);
    }
  }

  function stat(label, value, iconName, testid, source) {
    return h('div', { class: `stat${source ? ` src-${source}` : ''}`, 'data-testid': testid },
      h('span', { class: 'stat-value', text: value }), h('span', { class: 'stat-label' }, source ? h('span', { class: 'swatch' }) : null, label));
  }

  function plateCard(p) {
    const st = plateState(p);
    const room = state.rooms.get(p.room_id);
    const here = atPlate(p.id);
    return h('button', {
      type: 'button', class: `plate-tile state-${st.key}${state.selected === p.id ? ' selected' : ''}`,
      'data-testid': 'presence-card', 'data-doorplate-id': p.id, 'data-count': here.length,
      onclick: () => openDetail(p),
    },
    h('div', { class: 'tile-head' },
      h('div', { class: 'tile-titles' }, h('strong', { class: 'tile-room', text: room?.name || p.name }), h('span', { class: 'tile-plate', text: p.name })),
      h('span', { class: 'tile-count', 'data-testid': 'presence-count', text: String(here.length) })),
    h('div', { class: 'tile-state' }, statusDot(st.key === 'online', st.label, st.tone)),
    here.length ? h('div', { class: 'tile-names' },
      here.slice(0, SHOW_NAMES).map((e) => h('span', { class: `name-chip src-${e.source}`, 'data-testid': 'presence-name', 'data-source': e.source, title: name(e.user_id), text: name(e.user_id) })),
      here.length > SHOW_NAMES ? h('span', { class: 'name-more', text: t('presence.more', { n: here.length - SHOW_NAMES }) }) : null)
      : h('p', { class: 'tile-empty', text: t('plates.nobody') }));
  }

  function openDetail(p) {
    state.selected = p.id;
    for (const el of board.querySelectorAll('.plate-tile')) el.classList.toggle('selected', el.dataset.doorplateId === p.id);
    // The panel is built once per doorplate and only its lists are refreshed, so a
    // half-filled placement (picked names, a time, focus in the picker) survives the
    // 3-second refresh.
    detail = buildDetail(p);
    split.open(detail.el, { onClose: () => { state.selected = null; detail = null; for (const el of board.querySelectorAll('.plate-tile.selected')) el.classList.remove('selected'); } });
    renderDetail(p);
  }

  let detail = null;

  function buildDetail(p) {
    const stateBox = h('div');
    const hereBox = h('div');
    const el = h('div', { 'data-testid': 'presence-detail' },
      h('div', { class: 'panel-head-box' }),
      h('div', { class: 'panel-body' }, stateBox, hereBox, placeSection(p)));
    return { el, plateId: p.id, stateBox, hereBox, head: el.firstChild };
  }

  /** "Place here": pick students (a teacher: of their own classes), now or until a time. */
  function placeSection(p) {
    let picked = [];
    const chips = h('div', { class: 'chips place-chips', 'data-testid': 'place-picked' });
    const errors = formError();
    const untilOn = h('input', { type: 'checkbox', 'data-testid': 'place-until-on' });
    const untilAt = input({ type: 'time', 'data-testid': 'place-until', step: 60, disabled: true, 'aria-label': t('presence.place_until_at') });
    untilOn.addEventListener('change', () => {
      untilAt.disabled = !untilOn.checked;
      if (untilOn.checked && !untilAt.value) untilAt.value = hmOf(Math.min(minutesOf(today().hm) + 60, 23 * 60 + 59));
    });
    const renderPicked = () => {
      setChildren(chips, picked.map((u) => personChip(u, () => { picked = picked.filter((x) => x.id !== u.id); renderPicked(); })));
      submit.disabled = !picked.length;
    };
    const picker = personPicker({
      load: candidates,
      onPick: (u) => { picked = [...picked, u].sort(byName); renderPicked(); },
      exclude: () => new Set([...picked.map((u) => u.id), ...atPlate(p.id).map((e) => e.user_id)]),
      placeholder: t('presence.place_search'),
      testid: 'place-picker',
      describe: (u) => u.class_name || t('role.student'),
    });
    const submit = button(t('presence.place_go'), { kind: 'primary', iconName: 'pin', testid: 'place-submit', disabled: true, onclick: async () => {
      if (untilOn.checked && !untilAt.value) { errors.show(t('presence.place_until_missing')); return; }
      const until = untilOn.checked ? zonedToRfc3339(today().date, untilAt.value) : undefined;
      const done = await busy(submit, () => call('POST', '/api/v1/presence', { body: { doorplate_id: p.id, user_ids: picked.map((u) => u.id), until } }), errors);
      if (!done) return;
      toast(t('presence.placed', { n: picked.length }));
      picked = [];
      renderPicked();
      soon();
    } });
    const hint = h('p', { class: 'field-hint', 'data-testid': 'place-hint', text: isAdmin() ? t('presence.place_hint_admin') : t('presence.place_hint_teacher') });
    // A teacher who teaches no class has no one to offer: say so instead of an empty search.
    candidates().then((list) => { if (!list.length) hint.textContent = t('presence.place_none'); }).catch(() => {});
    return section(t('presence.place_title'), h('div', { class: 'form-stack', 'data-testid': 'place-form' },
      hint,
      picker, chips,
      h('div', { class: 'place-until' },
        h('label', { class: 'check' }, untilOn, h('span', { text: t('presence.place_until') })), untilAt),
      errors.el, h('div', {}, submit)));
  }

  /**
   * Whom this person may place: a teacher the students of the classes they teach (the
   * server lists only those), an administrator every active student.
   */
  async function candidates() {
    if (!candidateList) {
      candidateList = (async () => {
        if (isAdmin()) {
          const users = await directory.users();
          return users.filter((u) => u.role === 'student' && !u.disabled).sort(byName);
        }
        const groups = await call('GET', '/api/v1/groups');
        const seen = new Map();
        for (const g of groups) for (const m of g.members) if (!seen.has(m.id)) seen.set(m.id, { ...m, role: 'student', class_name: g.name });
        return [...seen.values()].sort(byName);
      })().catch((err) => { candidateList = null; throw err; });
    }
    return candidateList;
  }
  let candidateList = null;

  function renderDetail(p) {
    if (!detail || detail.plateId !== p.id) return;
    const st = plateState(p);
    const room = state.rooms.get(p.room_id);
    const here = atPlate(p.id);
    setChildren(detail.head, panelHead(room?.name || p.name, { subtitle: p.name, onClose: () => split.close() }));
    setChildren(detail.stateBox, section(null, h('div', { class: 'detail-state' }, statusDot(st.key === 'online', st.label, st.tone),
      p.last_seen ? h('span', { class: 'dim', text: t('plates.last_seen', { ago: formatAgo(p.last_seen) }) }) : null)));
    candidates().catch(() => []).then((list) => {
      if (!detail || detail.plateId !== p.id) return;
      const mine = new Set(list.map((u) => u.id));
      setChildren(detail.hereBox, section(t('presence.here_n', { n: here.length }),
        here.length ? h('ul', { class: 'who-list', 'data-testid': 'presence-here' }, here.map((e) => h('li', { 'data-user-id': e.user_id, 'data-testid': 'presence-here-item' },
          avatar(name(e.user_id), { size: 'sm' }),
          h('div', { class: 'who-text' }, h('span', { class: 'who-name', text: name(e.user_id) }),
            h('span', { class: 'cell-sub', text: e.until ? t('presence.since_until', { since: formatWhen(e.since), until: formatWhen(e.until) }) : t('presence.since', { since: formatWhen(e.since) }) })),
          sourceChip(e.source),
          // A teacher dismisses the students they may place; an administrator anyone.
          mine.has(e.user_id) ? button(t('presence.dismiss'), { small: true, kind: 'danger-outline', testid: 'presence-dismiss', title: t('presence.dismiss_name', { name: name(e.user_id) }), onclick: (ev) => dismiss(p, e, ev.currentTarget) }) : null))) : h('p', { class: 'dim', text: t('plates.nobody') })));
    });
  }

  async function dismiss(p, e, btn) {
    const ok = await confirmDialog({ title: t('presence.dismiss_title', { name: name(e.user_id) }), text: t('presence.dismiss_text'), confirm: t('presence.dismiss') });
    if (!ok) return;
    const done = await busy(btn, () => call('DELETE', '/api/v1/presence', { body: { doorplate_id: p.id, user_ids: [e.user_id] } }).then(() => true));
    if (done) soon();
  }

  load();
  return () => { stopped = true; clearTimeout(timer); soon.cancel(); off(); };
}


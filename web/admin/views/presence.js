// Presence: every doorplate as a card on a floor-plan-like board, grouped by the kind of
// room — online or not, how many are present, and who, coloured by how they came to be
// there (proved at the door, timetable, placed by a teacher now or in advance).
// Refreshes every 3 s and at once on a live `presence.changed`.

import { h, setChildren } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { call, byName, formatWhen, debounce, formatAgo } from '../lib.js';
import { pageHeader, splitView, panelHead, section, statusDot, loading, errorBox, emptyState, avatar } from '../ui.js';
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
    .sort((a, b) => SOURCES.indexOf(a.source) - SOURCES.indexOf(b.source) || name(a.user_id).localeCompare(name(b.user_id)));

  function renderLive() {
    setChildren(live, state.error
      ? statusDot(false, t('presence.stale'), 'wait')
      : statusDot(true, t('presence.live', { time: state.updated ? formatWhen(state.updated, { seconds: true }).split(/,\s*|\s+/).pop() : '' })));
  }

  function render() {
    renderLive();
    const online = state.plates.filter((p) => p.online).length;
    const students = new Set(state.presence.map((p) => p.user_id)).size;
    const bySource = Object.fromEntries(SOURCES.map((s) => [s, state.presence.filter((p) => p.source === s).length]));
    setChildren(stats,
      stat(t('presence.stat.online'), `${online} / ${state.plates.length}`, 'monitor'),
      stat(t('presence.stat.present'), String(students), 'people', 'stat-present'),
      stat(t('source.active'), String(bySource.active), null, null, 'active'),
      stat(t('source.timetable'), String(bySource.timetable), null, null, 'timetable'),
      stat(t('presence.stat.placed'), String(bySource.teacher_now + bySource.teacher_advance), null, null, 'teacher_now'));
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
      here.slice(0, SHOW_NAMES).map((e) => h('span', { class: `name-chip src-${e.source}`, 'data-testid': 'presence-name', 'data-source': e.source, text: name(e.user_id) })),
      here.length > SHOW_NAMES ? h('span', { class: 'name-more', text: t('presence.more', { n: here.length - SHOW_NAMES }) }) : null)
      : h('p', { class: 'tile-empty', text: t('plates.nobody') }));
  }

  function openDetail(p) {
    state.selected = p.id;
    for (const el of board.querySelectorAll('.plate-tile')) el.classList.toggle('selected', el.dataset.doorplateId === p.id);
    split.open(h('div'), { onClose: () => { state.selected = null; for (const el of board.querySelectorAll('.plate-tile.selected')) el.classList.remove('selected'); } });
    renderDetail(p);
  }

  function renderDetail(p) {
    const st = plateState(p);
    const room = state.rooms.get(p.room_id);
    const here = atPlate(p.id);
    setChildren(split.panel, h('div', { 'data-testid': 'presence-detail' },
      panelHead(room?.name || p.name, { subtitle: p.name, onClose: () => split.close() }),
      h('div', { class: 'panel-body' },
        section(null, h('div', { class: 'detail-state' }, statusDot(st.key === 'online', st.label, st.tone),
          p.last_seen ? h('span', { class: 'dim', text: t('plates.last_seen', { ago: formatAgo(p.last_seen) }) }) : null)),
        section(t('presence.here_n', { n: here.length }),
          here.length ? h('ul', { class: 'who-list' }, here.map((e) => h('li', {},
            avatar(name(e.user_id), { size: 'sm' }),
            h('div', { class: 'who-text' }, h('span', { text: name(e.user_id) }),
              h('span', { class: 'cell-sub', text: e.until ? t('presence.since_until', { since: formatWhen(e.since), until: formatWhen(e.until) }) : t('presence.since', { since: formatWhen(e.since) }) })),
            sourceChip(e.source)))) : h('p', { class: 'dim', text: t('plates.nobody') })))));
  }

  load();
  return () => { stopped = true; clearTimeout(timer); soon.cancel(); off(); };
}


// Rooms & doorplates: every room with its doorplates and their state (waiting for
// pairing, paired, online). Adding a doorplate shows its one-time pairing code large,
// with its expiry; the list refreshes every few seconds so a pairing shows up by itself.
// The doorplates are a fleet: each card names the kiosk build its screen runs, flags a
// screen that should be online but has been offline for ten minutes (counted in the
// header), and gives an admin identify, reload, rename, move, unpair and delete.

import { at } from '/common/api.js';
import { h, setChildren } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { call, isAdmin, invalidate, directory, byName, errorText, formatAgo, formatWhen } from '../lib.js';
import {
  pageHeader, splitView, panelHead, section, table, searchBox, button, field, input, select, chip,
  dialog, confirmDialog, toast, emptyState, loading, errorBox, statusDot, avatar, segmented,
} from '../ui.js';
import { icon } from '/common/icons.js';

export const ROOM_KINDS = ['classroom', 'lab', 'office', 'dorm', 'other'];
const REFRESH_MS = 3000;

/** The state of a doorplate as a word and a tone. */
export function plateState(p) {
  if (p.online) return { key: 'online', label: t('plates.online'), tone: 'on' };
  if (p.paired) return { key: 'paired', label: t('plates.offline'), tone: 'off' };
  return { key: 'unpaired', label: t('plates.unpaired'), tone: 'wait' };
}

/** Shows a pairing code large with its expiry; closes itself into "paired" when the doorplate pairs. */
export function pairingDialog(plate, room, code, expiresAt, onPaired) {
  const pretty = String(code).replace(/^(\d{4})(\d{4})$/, '$1 $2');
  const expiry = h('p', { class: 'pair-expiry', 'data-testid': 'pairing-expiry' });
  const status = h('div', { class: 'pair-status', 'data-testid': 'pairing-status' }, h('span', { class: 'spinner' }), h('span', { text: t('plates.waiting') }));
  const tick = () => {
    const left = new Date(expiresAt).getTime() - Date.now();
    if (Number.isNaN(left)) { expiry.textContent = ''; return; }
    if (left <= 0) { expiry.textContent = t('plates.code_expired'); expiry.classList.add('expired'); return; }
    const m = Math.floor(left / 60000);
    const s = Math.floor((left % 60000) / 1000);
    expiry.textContent = t('plates.code_expires', { time: formatWhen(expiresAt), left: `${m}:${String(s).padStart(2, '0')}` });
  };
  tick();
  const timer = setInterval(tick, 1000);
  const poll = setInterval(async () => {
    try {
      const plates = await call('GET', '/api/v1/doorplates');
      const me = plates.find((p) => p.id === plate.id);
      if (me?.paired) {
        clearInterval(poll);
        setChildren(status, icon('check'), h('span', { text: t('plates.paired_now') }));
        status.classList.add('done');
        onPaired?.(me);
      }
    } catch { /* the list view shows errors */ }
  }, 1500);
  dialog({
    title: t('plates.pair_title', { name: plate.name }),
    testid: 'pairing-dialog',
    body: h('div', { class: 'pair' },
      h('p', { class: 'pair-room', text: room ? `${room.name} · ${plate.name}` : plate.name }),
      h('div', { class: 'pair-code', 'data-testid': 'pairing-code', 'data-code': code, 'aria-label': String(code).split('').join(' '), text: pretty }),
      expiry,
      h('ol', { class: 'pair-steps' },
        h('li', {}, t('plates.step1'), ' ', h('code', { text: `${location.origin}${at('/kiosk')}` })),
        h('li', { text: t('plates.step2') }),
        h('li', { text: t('plates.step3') })),
      status),
    actions: [{ label: t('common.done'), kind: 'primary', testid: 'pairing-done' }],
    onClose: () => { clearInterval(timer); clearInterval(poll); },
  });
}

export function mount(root) {
  const state = { q: '', kind: '', rooms: [], plates: [], selected: null };
  const split = splitView();
  const tableBox = h('div', {}, loading());
  const summary = h('span', { class: 'toolbar-note', 'data-testid': 'rooms-summary' });
  const alertBadge = h('span', { class: 'offline-alerts', 'data-testid': 'rooms-offline-alerts', hidden: true });
  setChildren(root,
    pageHeader(t('nav.rooms'), t('rooms.sub'), alertBadge,
      isAdmin() ? button(t('rooms.new'), { kind: 'primary', iconName: 'plus', testid: 'room-new', onclick: () => openCreate() }) : null),
    split.el);
  setChildren(split.main, h('div', { class: 'card' },
    h('div', { class: 'toolbar' },
      searchBox({ placeholder: t('rooms.search'), onSearch: (q) => { state.q = q.toLowerCase(); render(); } }),
      segmented([{ value: '', label: t('people.all') }, ...ROOM_KINDS.map((k) => ({ value: k, label: t(`room.kind.${k}`) }))], '', (v) => { state.kind = v; render(); }, 'kind-filter'),
      h('span', { class: 'grow' }), summary),
    tableBox));

  let stopped = false;
  let timer = null;
  async function load() {
    clearTimeout(timer);
    try {
      const [rooms, plates] = await Promise.all([call('GET', '/api/v1/rooms'), call('GET', '/api/v1/doorplates')]);
      if (stopped) return;
      state.rooms = rooms.sort(byName);
      state.plates = plates.sort(byName);
      render();
    } catch (err) {
      if (!stopped && !state.rooms.length) setChildren(tableBox, errorBox(err, load));
    }
    if (!stopped) timer = setTimeout(load, REFRESH_MS);
  }

  const platesOf = (roomId) => state.plates.filter((p) => p.room_id === roomId);

  function render() {
    const online = state.plates.filter((p) => p.online).length;
    summary.textContent = t('rooms.summary', { rooms: state.rooms.length, plates: state.plates.length, online });
    const alerts = state.plates.filter((p) => p.offline_alert).length;
    alertBadge.hidden = !alerts;
    alertBadge.dataset.count = String(alerts);
    setChildren(alertBadge, alerts ? chip(t('plates.offline_alerts', { n: alerts }), 'red') : null);
    const rows = state.rooms.filter((r) => (!state.kind || r.kind === state.kind) && (!state.q || r.name.toLowerCase().includes(state.q)
      || platesOf(r.id).some((p) => p.name.toLowerCase().includes(state.q))));
    if (!rows.length) {
      setChildren(tableBox, emptyState('rooms', state.q || state.kind ? t('common.no_match') : t('rooms.none'), state.q || state.kind ? '' : t('rooms.none_hint')));
      return;
    }
    setChildren(tableBox, table({
      testid: 'rooms-table',
      columns: [
        { label: t('rooms.col.room'), render: (r) => h('div', { class: 'cell-person' }, h('span', { class: `kind-mark kind-${r.kind}` }, icon(r.kind === 'dorm' ? 'pin' : r.kind === 'office' ? 'people' : 'rooms')), h('span', { text: r.name })) },
        { label: t('rooms.col.kind'), render: (r) => chip(t(`room.kind.${r.kind}`)) },
        { label: t('rooms.col.doorplates'), render: (r) => {
          const list = platesOf(r.id);
          if (!list.length) return h('span', { class: 'dim', text: t('rooms.no_plates') });
          return h('div', { class: 'plate-list' }, list.map((p) => {
            const st = plateState(p);
            return h('div', { class: 'plate-line', 'data-testid': 'doorplate', 'data-doorplate-id': p.id, 'data-state': st.key },
              h('span', { class: 'plate-name', text: p.name }), statusDot(st.key === 'online', st.label, st.tone),
              p.offline_alert ? chip(t('plates.offline_long'), 'red', { 'data-testid': 'plate-offline-alert' }) : null,
              p.probed_at ? chip(t('plates.probed'), 'red', { 'data-testid': 'plate-probed', title: t('plates.probed_long', { ago: formatAgo(p.probed_at) }) }) : null);
          }));
        } },
        { label: t('rooms.col.present'), className: 'num', render: (r) => String(platesOf(r.id).reduce((n, p) => n + (p.present || 0), 0)) },
      ],
      rows,
      selected: state.selected,
      onRow: (r) => openDetail(r),
    }));
    if (split.isOpen && state.selected) {
      const r = state.rooms.find((x) => x.id === state.selected);
      if (r) refreshDetail(r);
    }
  }

  function markSelected(id) {
    state.selected = id;
    for (const tr of tableBox.querySelectorAll('tr[data-key]')) tr.classList.toggle('selected', tr.dataset.key === id);
  }

  let detailBody = null;
  let detailKey = '';
  function openDetail(r) {
    markSelected(r.id);
    detailBody = h('div', { class: 'panel-body' });
    detailKey = '';
    split.open(h('div', { 'data-testid': 'room-detail' },
      panelHead(r.name, { subtitle: t(`room.kind.${r.kind}`), onClose: () => split.close() }), detailBody),
    { onClose: () => { markSelected(null); detailBody = null; } });
    refreshDetail(r);
  }

  /** Re-renders the panel only when something in it changed (it refreshes every 3 s). */
  function refreshDetail(r) {
    if (!detailBody) return;
    const plates = platesOf(r.id);
    const key = JSON.stringify(plates.map((p) => [p.id, p.name, p.paired, p.online, p.present, p.last_seen && formatAgo(p.last_seen), p.probed_at && formatAgo(p.probed_at), p.version, p.offline_alert]));
    if (key === detailKey) return;
    detailKey = key;
    setChildren(detailBody,
      section(t('rooms.col.doorplates'),
        plates.length ? h('div', { class: 'plate-cards' }, plates.map((p) => plateCard(p, r))) : h('p', { class: 'dim', text: t('rooms.no_plates_long') }),
        isAdmin() ? h('div', { class: 'panel-actions' }, button(t('plates.add'), { kind: 'primary', iconName: 'plus', testid: 'plate-add', onclick: () => addPlate(r) })) : null));
  }

  function plateCard(p, r) {
    const st = plateState(p);
    const who = h('div', { class: 'plate-who' });
    const card = h('div', { class: 'plate-card', 'data-testid': 'plate-card', 'data-doorplate-id': p.id, 'data-state': st.key },
      h('div', { class: 'plate-card-head' },
        h('span', { class: 'plate-icon' }, icon('monitor')),
        h('div', { class: 'plate-card-titles' }, h('strong', { text: p.name }),
          h('span', { class: 'cell-sub', text: p.last_seen ? t('plates.last_seen', { ago: formatAgo(p.last_seen) }) : (p.paired ? t('plates.never_seen') : t('plates.needs_code')) })),
        statusDot(st.key === 'online', st.label, st.tone)),
      p.offline_alert ? h('p', { class: 'plate-warning', 'data-testid': 'plate-offline-note' }, icon('alert'),
        h('span', { text: t('plates.offline_alert', { ago: formatAgo(p.last_seen) }) })) : null,
      p.probed_at ? h('p', { class: 'plate-warning', 'data-testid': 'plate-probed-note' }, icon('alert'), h('span', { text: t('plates.probed_long', { ago: formatAgo(p.probed_at) }) })) : null,
      p.version ? h('span', { class: 'cell-sub plate-version', 'data-testid': 'plate-version', 'data-version': p.version, text: t('plates.version', { v: p.version }) }) : null,
      h('div', { class: 'plate-card-row' },
        h('span', { class: 'plate-count', text: t('plates.present_n', { n: p.present || 0 }) }),
        p.present ? button(t('plates.show_who'), { small: true, kind: 'quiet', onclick: () => showWho(p, who) }) : null,
        isAdmin() ? button(p.paired ? t('plates.repair') : t('plates.new_code'), { small: true, iconName: 'key', testid: 'plate-code', onclick: () => newCode(p, r) }) : null),
      isAdmin() ? h('div', { class: 'plate-card-row plate-actions' },
        p.online ? button(t('plates.identify'), { small: true, testid: 'plate-identify', title: t('plates.identify_hint'), onclick: () => command(p, 'identify') }) : null,
        p.online ? button(t('plates.reload'), { small: true, testid: 'plate-reload', title: t('plates.reload_hint'), onclick: () => command(p, 'reload') }) : null,
        button(t('plates.rename'), { small: true, kind: 'quiet', testid: 'plate-rename', onclick: () => rename(p) }),
        button(t('plates.move'), { small: true, kind: 'quiet', testid: 'plate-move', onclick: () => move(p, r) }),
        p.paired ? button(t('plates.unpair'), { small: true, kind: 'quiet', testid: 'plate-unpair', onclick: () => unpair(p) }) : null,
        button(t('common.delete'), { small: true, kind: 'quiet', testid: 'plate-delete', onclick: () => remove(p) })) : null,
      who);
    return card;
  }

  async function command(p, what) {
    try {
      await call('POST', `/api/v1/doorplates/${p.id}/command`, { body: { command: what } });
      toast(t(`plates.${what}_sent`, { name: p.name }), { kind: 'success' });
    } catch (err) { toast(errorText(err), { kind: 'error' }); }
  }

  function rename(p) {
    const name = input({ value: p.name, 'data-testid': 'plate-rename-name' });
    dialog({
      title: t('plates.rename_title', { name: p.name }), testid: 'plate-rename-dialog',
      body: h('div', { class: 'form-stack' }, field(t('plates.f.name'), name, { hint: t('plates.f.name_hint') })),
      actions: [
        { label: t('common.cancel'), kind: 'quiet' },
        { label: t('common.save'), kind: 'primary', testid: 'plate-rename-submit', onClick: async () => {
          await call('PATCH', `/api/v1/doorplates/${p.id}`, { body: { name: name.value.trim() } });
          invalidate('doorplates');
          await load();
        } },
      ],
    });
  }

  function move(p, r) {
    const others = state.rooms.filter((x) => x.id !== r.id);
    const room = select(others.map((x) => ({ value: x.id, label: x.name })), others[0]?.id || '', { 'data-testid': 'plate-move-room' });
    dialog({
      title: t('plates.move_title', { name: p.name }), testid: 'plate-move-dialog',
      body: h('div', { class: 'form-stack' }, field(t('plates.f.room'), room, { hint: t('plates.move_hint', { n: p.present || 0 }) })),
      actions: [
        { label: t('common.cancel'), kind: 'quiet' },
        { label: t('plates.move'), kind: 'primary', testid: 'plate-move-submit', onClick: async () => {
          await call('PATCH', `/api/v1/doorplates/${p.id}`, { body: { room_id: room.value } });
          invalidate('doorplates');
          const to = state.rooms.find((x) => x.id === room.value);
          toast(t('plates.moved', { name: p.name, room: to?.name || '' }), { kind: 'success' });
          await load();
        } },
      ],
    });
  }

  async function unpair(p) {
    const ok = await confirmDialog({ title: t('plates.unpair_title', { name: p.name }), text: t('plates.unpair_text'), confirm: t('plates.unpair'), danger: true, testid: 'plate-unpair-confirm' });
    if (!ok) return;
    try {
      await call('POST', `/api/v1/doorplates/${p.id}/unpair`);
      toast(t('plates.unpaired_now', { name: p.name }), { kind: 'success' });
      await load();
    } catch (err) { toast(errorText(err), { kind: 'error' }); }
  }

  async function remove(p) {
    const ok = await confirmDialog({ title: t('plates.delete_title', { name: p.name }), text: t('plates.delete_text', { n: p.present || 0 }), confirm: t('common.delete'), danger: true, testid: 'plate-delete-confirm' });
    if (!ok) return;
    try {
      await call('DELETE', `/api/v1/doorplates/${p.id}`);
      invalidate('doorplates');
      toast(t('plates.deleted', { name: p.name }), { kind: 'success' });
      await load();
    } catch (err) { toast(errorText(err), { kind: 'error' }); }
  }

  async function showWho(p, box) {
    setChildren(box, loading());
    try {
      const [list, users] = await Promise.all([call('GET', `/api/v1/presence?doorplate_id=${encodeURIComponent(p.id)}`), directory.userMap()]);
      setChildren(box, list.length ? h('ul', { class: 'who-list' }, list.map((e) => h('li', {},
        avatar(users.get(e.user_id)?.display_name || '?', { size: 'sm' }),
        h('span', { text: users.get(e.user_id)?.display_name || t('common.unknown') }),
        sourceChip(e.source)))) : h('p', { class: 'dim', text: t('plates.nobody') }));
    } catch (err) { setChildren(box, errorBox(err)); }
  }

  async function newCode(p, r) {
    try {
      const res = await call('POST', `/api/v1/doorplates/${p.id}/pairing`);
      pairingDialog(p, r, res.pairing_code, res.pairing_expires_at, () => load());
    } catch (err) { toast(errorText(err), { kind: 'error' }); }
  }

  function addPlate(r) {
    const name = input({ value: t('plates.default_name', { room: r.name }), 'data-testid': 'plate-name' });
    dialog({
      title: t('plates.add_title', { room: r.name }), testid: 'plate-create',
      body: h('div', { class: 'form-stack' }, field(t('plates.f.name'), name, { hint: t('plates.f.name_hint') })),
      actions: [
        { label: t('common.cancel'), kind: 'quiet' },
        { label: t('plates.create'), kind: 'primary', testid: 'plate-submit', onClick: async () => {
          const res = await call('POST', '/api/v1/doorplates', { body: { room_id: r.id, name: name.value.trim() } });
          invalidate('doorplates');
          load();
          pairingDialog(res.doorplate, r, res.pairing_code, res.pairing_expires_at, () => load());
        } },
      ],
    });
  }

  function openCreate() {
    const name = input({ 'data-testid': 'room-name' });
    const kind = select(ROOM_KINDS.map((k) => ({ value: k, label: t(`room.kind.${k}`) })), 'classroom', { 'data-testid': 'room-kind' });
    dialog({
      title: t('rooms.new'), testid: 'room-create',
      body: h('div', { class: 'form-grid' }, field(t('rooms.f.name'), name), field(t('rooms.f.kind'), kind)),
      actions: [
        { label: t('common.cancel'), kind: 'quiet' },
        { label: t('rooms.create'), kind: 'primary', testid: 'room-submit', onClick: async () => {
          const { room } = await call('POST', '/api/v1/rooms', { body: { name: name.value.trim(), kind: kind.value } });
          invalidate('rooms');
          toast(t('rooms.created', { name: room.name }), { kind: 'success' });
          await load();
          openDetail(room);
        } },
      ],
    });
  }

  load();
  return () => { stopped = true; clearTimeout(timer); };
}

/** A coloured label for a presence source. */
export function sourceChip(source) {
  const tone = { active: 'accent', timetable: 'blue', teacher_now: 'amber', teacher_advance: 'violet' }[source] || 'neutral';
  return chip(t(`source.${source}`), tone, { 'data-source': source });
}

// Audit: who did what, newest first — presence changes, sessions, message reads, failed
// credentials and every admin action. Filter by action and by person (as the one who
// acted or the one it was about); rows read as sentences.

import { h, setChildren } from '/common/dom.js';
import { t, has } from '/common/i18n.js';
import { call, directory, formatWhen } from '../lib.js';
import { pageHeader, table, button, select, loading, errorBox, emptyState, personPicker, personChip, chip, avatar } from '../ui.js';
import { sourceChip } from './rooms.js';

/** The actions the server records, grouped for the filter. */
export const ACTIONS = [
  ['presence', ['presence.joined', 'presence.left']],
  ['sessions', ['session.opened', 'session.closed', 'session.expired', 'credential.failed', 'doorplate.probed', 'auth.login', 'auth.logout']],
  ['messages', ['message.read', 'message.listed', 'media.uploaded']],
  ['calls', ['call.placed', 'call.started', 'call.ended']],
  ['directory', ['user.created', 'user.updated', 'user.deleted', 'user.badge', 'guardianship.added', 'guardianship.removed', 'group.created', 'group.updated', 'group.deleted', 'group.badges']],
  ['school', ['room.created', 'doorplate.created', 'doorplate.pairing', 'doorplate.paired', 'timetable.created', 'timetable.updated', 'timetable.deleted', 'arrangement.created', 'arrangement.deleted', 'notice.created', 'notice.updated', 'notice.deleted', 'settings.updated', 'import.applied']],
];
const TONE = { presence: 'accent', sessions: 'blue', messages: 'violet', calls: 'violet', directory: 'neutral', school: 'neutral' };
/** A call's details that name a person (the audit stores their ids). */
const CALL_PEOPLE = new Set(['caller', 'callee', 'to', 'ended_by']);
const groupOf = (action) => ACTIONS.find(([, list]) => list.includes(action))?.[0] || 'school';
/** Detail keys never shown (one-time secrets). */
const HIDDEN = new Set(['code', 'token', 'password']);
/** A setting's field, as the settings page labels it (a `settings.updated` entry lists them). */
const SETTING_LABELS = {
  timezone: 'settings.timezone',
  language: 'settings.language',
  end_of_day: 'settings.end_of_day',
  term_start: 'settings.term_start',
  term_end: 'settings.term_end',
  holidays: 'settings.holidays',
  max_doorplates_per_student: 'settings.max_doorplates',
  session_idle_seconds: 'settings.idle',
  retention_days: 'settings.retention',
  max_image_bytes: 'settings.max_image',
  max_voice_bytes: 'settings.max_voice',
  max_video_bytes: 'settings.max_video',
  show_room_to_guardians: 'settings.show_room',
};

/** The reader's word for a detail's key: an audit key, a setting, or the key itself. */
function keyLabel(k) {
  if (has(`audit.key.${k}`)) return t(`audit.key.${k}`);
  if (SETTING_LABELS[k] && has(SETTING_LABELS[k])) return t(SETTING_LABELS[k]);
  return k.replace(/_/g, ' ');
}

export function mount(root) {
  const state = { action: '', person: null, limit: 200, rows: [], seq: 0 };
  const names = { users: new Map(), plates: new Map(), rooms: new Map(), groups: new Map(), notices: new Map(), arrangements: new Map() };
  const tableBox = h('div', {}, loading());
  const foot = h('div', { class: 'table-foot' });
  const actionSel = h('select', { class: 'input select', 'data-testid': 'audit-action', onchange: () => { state.action = actionSel.value; state.limit = 200; load(); } },
    h('option', { value: '', text: t('audit.all_actions') }),
    ACTIONS.map(([group, list]) => h('optgroup', { label: t(`audit.group.${group}`) },
      list.map((a) => h('option', { value: a, text: has(`audit.action.${a}`) ? t(`audit.action.${a}`) : a })))));
  const personBox = h('div', { class: 'audit-person' });
  const renderPerson = () => setChildren(personBox, state.person
    ? personChip(state.person, () => { state.person = null; renderPerson(); load(); }, { 'data-testid': 'audit-person-chip' })
    : personPicker({
      placeholder: t('audit.person'), testid: 'audit-person',
      load: () => directory.users(),
      onPick: (u) => { state.person = u; renderPerson(); state.limit = 200; load(); },
    }));
  renderPerson();
  setChildren(root,
    pageHeader(t('nav.audit'), t('audit.sub'), button(t('common.refresh'), { iconName: 'refresh', onclick: () => load(), testid: 'audit-refresh' })),
    h('div', { class: 'card' },
      h('div', { class: 'toolbar' }, h('div', { class: 'audit-action' }, actionSel), personBox),
      tableBox, foot));

  async function loadNames() {
    const [users, plates, rooms, groups] = await Promise.all([
      directory.users().catch(() => []), directory.doorplates().catch(() => []), directory.rooms().catch(() => []), directory.groups().catch(() => []),
    ]);
    for (const u of users) names.users.set(u.id, u.display_name);
    for (const p of plates) names.plates.set(p.id, p.name);
    for (const r of rooms) names.rooms.set(r.id, r.name);
    for (const g of groups) names.groups.set(g.id, g.name);
    // Titles for notices and arrangements still there (deleted ones show their number).
    const [notices, arrangements] = await Promise.all([call('GET', '/api/v1/notices').catch(() => []), call('GET', '/api/v1/arrangements').catch(() => [])]);
    for (const n of notices) names.notices.set(n.id, n.title);
    for (const a of arrangements) names.arrangements.set(a.id, a.title);
  }

  async function load() {
    const seq = ++state.seq;
    const base = new URLSearchParams({ limit: String(state.limit) });
    if (state.action) base.set('action', state.action);
    try {
      let rows;
      if (state.person) {
        const a = new URLSearchParams(base); a.set('actor_id', state.person.id);
        const s = new URLSearchParams(base); s.set('subject_id', state.person.id);
        const [byActor, bySubject] = await Promise.all([call('GET', `/api/v1/audit?${a}`), call('GET', `/api/v1/audit?${s}`)]);
        const seen = new Set();
        rows = [...byActor, ...bySubject].filter((r) => {
          const k = `${r.at}|${r.action}|${r.actor_id}|${r.subject_id}`;
          if (seen.has(k)) return false;
          seen.add(k);
          return true;
        }).sort((x, y) => (x.at < y.at ? 1 : -1)).slice(0, state.limit);
      } else {
        rows = await call('GET', `/api/v1/audit?${base}`);
      }
      if (seq !== state.seq) return;
      state.rows = rows;
      render();
    } catch (err) {
      if (seq === state.seq) setChildren(tableBox, errorBox(err, load));
    }
  }

  const userName = (id) => (id ? names.users.get(id) || t('audit.someone', { id }) : null);

  /** What an entry is about: a person, a class, a room or a doorplate, by the action's kind. */
  function subject(r) {
    const id = r.subject_id;
    const dim = h('span', { class: 'dim', text: '—' });
    if (!id) return dim;
    const [kind] = r.action.split('.');
    if (['presence', 'session', 'message', 'user', 'guardianship', 'credential', 'call'].includes(kind)) {
      return id === r.actor_id && kind !== 'user' ? h('span', { class: 'dim', text: t('audit.self') }) : userName(id);
    }
    if (kind === 'auth') return dim;
    if (kind === 'group') return names.groups.get(id) || t('audit.thing', { id });
    if (kind === 'room') return names.rooms.get(id) || t('audit.thing', { id });
    if (kind === 'doorplate') return names.plates.get(id) || t('audit.doorplate', { id });
    if (kind === 'notice' && names.notices.has(id)) return names.notices.get(id);
    if (kind === 'arrangement' && names.arrangements.has(id)) return names.arrangements.get(id);
    return h('span', { class: 'dim', text: `#${id}` });
  }

  function details(r) {
    const d = r.detail || {};
    const out = [];
    for (const [k, v] of Object.entries(d)) {
      if (HIDDEN.has(k) || v === null || v === undefined || v === '') continue;
      if (k === 'doorplate_id') out.push(chip(names.plates.get(String(v)) || t('audit.doorplate', { id: v }), 'neutral'));
      else if (k === 'room_id') out.push(chip(names.rooms.get(String(v)) || `#${v}`, 'neutral'));
      else if (k === 'guardian_id' || k === 'user_id' || k === 'student_id') out.push(chip(userName(String(v)), 'neutral'));
      else if (r.action.startsWith('call.') && CALL_PEOPLE.has(k)) out.push(h('span', { class: 'kv' }, h('span', { class: 'dim', text: `${keyLabel(k)} ` }), userName(String(v))));
      else if (k === 'duration_seconds') out.push(h('span', { class: 'kv' }, h('span', { class: 'dim', text: `${keyLabel(k)} ` }), t('audit.seconds', { n: v })));
      else if (k === 'source') out.push(sourceChip(v));
      else if (k === 'reason') out.push(chip(has(`audit.reason.${v}`) ? t(`audit.reason.${v}`) : String(v), 'neutral'));
      else if (k === 'role') out.push(chip(t(`role.${v}`), 'neutral'));
      // Any other reference reads as a phrase ("conversation 3"), never as a raw key.
      else if (k.endsWith('_id') && has(`audit.ref.${k.slice(0, -3)}`)) out.push(chip(t(`audit.ref.${k.slice(0, -3)}`, { id: v }), 'neutral'));
      else if (k === 'kind' && has(`import.kind.${v}`)) out.push(chip(t(`import.kind.${v}`), 'neutral'));
      else if (typeof v === 'boolean') { if (v) out.push(chip(keyLabel(k), 'neutral')); }
      else if (typeof v !== 'object') out.push(h('span', { class: 'kv' }, h('span', { class: 'dim', text: `${keyLabel(k)} ` }), String(v)));
    }
    return out.length ? h('div', { class: 'chips' }, out) : h('span', { class: 'dim', text: '' });
  }

  function render() {
    if (!state.rows.length) {
      setChildren(tableBox, emptyState('audit', t('audit.none'), state.action || state.person ? t('audit.none_filtered') : ''));
      setChildren(foot);
      return;
    }
    setChildren(tableBox, table({
      testid: 'audit-table',
      columns: [
        { label: t('audit.col.when'), className: 'nowrap tabular', render: (r) => formatWhen(r.at, { seconds: true }) },
        { label: t('audit.col.who'), render: (r) => (r.actor_id ? h('div', { class: 'cell-person plain' }, avatar(userName(r.actor_id), { size: 'sm' }), h('span', { text: userName(r.actor_id) })) : h('span', { class: 'dim', text: t('audit.system') })) },
        { label: t('audit.col.what'), render: (r) => chip(has(`audit.action.${r.action}`) ? t(`audit.action.${r.action}`) : r.action, TONE[groupOf(r.action)], { 'data-action': r.action, title: r.action }) },
        { label: t('audit.col.subject'), render: subject },
        { label: t('audit.col.details'), render: details },
      ],
      rows: state.rows,
      key: (r) => `${r.at}-${r.action}`,
      rowTestid: 'audit-row',
    }));
    const more = state.rows.length >= state.limit && state.limit < 2000;
    setChildren(foot, h('span', { text: t('audit.count', { n: state.rows.length }) }),
      more ? button(t('people.more'), { small: true, onclick: () => { state.limit = Math.min(2000, state.limit * 3); load(); } }) : null);
  }

  loadNames().finally(load);
}

// Calls: the live calls between students at a doorplate and their guardians, for the
// staff who supervise them — a teacher sees their classes' students' calls, an admin every
// one (the server decides). Who (the student and the guardian, who called whom), where
// (the room and the doorplate), voice or video, since when and for how long; a member of
// staff may end one (both sides see that a teacher ended it). Calls are never recorded,
// and the page says so. The list is `live-calls.js`, kept live from `call.started` and
// `call.ended`.

import { ApiError } from '/common/api.js';
import { h, setChildren } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { icon } from '/common/icons.js';
import { call, directory, instantToZoned, isAdmin, errorText } from '../lib.js';
import { pageHeader, table, button, chip, loading, errorBox, emptyState, avatar, statusDot, confirmDialog, toast } from '../ui.js';
import { liveCalls } from '../live-calls.js';

/** "4:05", "1:02:09": how long a call has lasted. */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const pad = (n) => String(n).padStart(2, '0');
  const hours = Math.floor(s / 3600);
  const rest = `${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
  return hours ? `${hours}:${rest}` : rest.replace(/^0/, '');
}

export function mount(root) {
  const names = { plates: new Map(), classes: new Map() };
  const live = h('span', { class: 'live-badge', 'data-testid': 'calls-live' });
  const listBox = h('div', { class: 'card calls-card', 'data-testid': 'calls-list' }, loading());
  setChildren(root,
    pageHeader(t('nav.calls'), isAdmin() ? t('calls.sub_admin') : t('calls.sub_teacher'), live),
    h('div', { class: 'note note-info calls-note', 'data-testid': 'calls-not-recorded' },
      icon('mic'), h('div', {},
        h('strong', { text: t('calls.not_recorded') }), ' ',
        h('span', { text: t('calls.not_recorded_text') }))),
    listBox);

  let stopped = false;
  let drawnIds = new Set();

  async function loadNames() {
    const [plates, groups] = await Promise.all([directory.doorplates().catch(() => []), directory.groups().catch(() => [])]);
    for (const p of plates) names.plates.set(p.id, p.name);
    for (const g of groups) {
      for (const m of g.members || []) if (!names.classes.has(m.id)) names.classes.set(m.id, g.name);
    }
  }

  /** How long each call has lasted, for every row drawn (ticks every second). */
  function tick() {
    for (const el of listBox.querySelectorAll('[data-since]')) {
      el.textContent = clock((Date.now() - Number(el.dataset.since)) / 1000);
    }
  }

  function draw() {
    if (stopped) return;
    setChildren(live, liveCalls.error && liveCalls.loaded
      ? statusDot(false, t('presence.stale'), 'wait')
      : statusDot(true, t('calls.live_n', { n: liveCalls.count })));
    if (!liveCalls.loaded) {
      setChildren(listBox, liveCalls.error ? errorBox(liveCalls.error, () => liveCalls.load()) : loading());
      return;
    }
    const list = liveCalls.list();
    if (!list.length) {
      drawnIds = new Set();
      setChildren(listBox, emptyState('phone', t('calls.none'), isAdmin() ? t('calls.none_admin') : t('calls.none_teacher')));
      return;
    }
    const before = drawnIds;
    drawnIds = new Set(list.map((c) => c.id));
    setChildren(listBox, table({
      testid: 'calls-table',
      rowTestid: 'call-row',
      rows: list,
      rowClass: (c) => (before.size && !before.has(c.id) ? 'row-arrived' : ''),
      columns: [
        { label: t('calls.col.student'), render: (c) => person(studentOf(c), names.classes.get(studentOf(c).id), 'call-student') },
        { label: t('calls.col.guardian'), render: (c) => person(guardianOf(c), t(c.caller.role === 'student' ? 'calls.called_by_student' : 'calls.called_student'), 'call-guardian') },
        { label: t('calls.col.where'), render: where },
        { label: t('calls.col.kind'), render: (c) => chip(t(c.video ? 'calls.video' : 'calls.voice'), c.video ? 'violet' : 'blue', { 'data-testid': 'call-kind' }) },
        { label: t('calls.col.since'), className: 'nowrap', render: (c) => h('span', { 'data-testid': 'call-since', text: instantToZoned(answeredAt(c)).hm }) },
        { label: t('calls.col.duration'), className: 'nowrap num', render: duration },
        { label: '', className: 'nowrap num', render: (c) => button(t('calls.end'), { kind: 'danger-outline', small: true, iconName: 'close', testid: 'call-end', onclick: (ev) => end(c, ev.currentTarget) }) },
      ],
    }));
    tick();
  }

  const studentOf = (c) => (c.caller.role === 'student' ? c.caller : c.callee);
  const guardianOf = (c) => (c.caller.role === 'student' ? c.callee : c.caller);
  const answeredAt = (c) => c.answered_at || c.started_at;

  function person(p, sub, testid) {
    return h('div', { class: 'cell-person' }, avatar(p.display_name, { size: 'sm' }),
      h('div', {}, h('span', { 'data-testid': testid, text: p.display_name }), sub ? h('span', { class: 'cell-sub', text: sub }) : null));
  }

  function where(c) {
    const plate = c.doorplate_id ? names.plates.get(c.doorplate_id) : null;
    const room = c.room || plate;
    if (!room) return h('span', { class: 'dim', text: '—' });
    return h('div', { 'data-testid': 'call-where' }, h('span', { text: room }), plate && plate !== room ? h('span', { class: 'cell-sub', text: plate }) : null);
  }

  function duration(c) {
    const limit = Math.round((Number(c.max_seconds) || 0) / 60);
    return h('div', {},
      h('span', { class: 'call-duration', 'data-testid': 'call-duration', 'data-since': String(Date.parse(answeredAt(c))) }),
      limit ? h('span', { class: 'cell-sub', text: t('calls.limit', { n: limit }) }) : null);
  }

  async function end(c, btn) {
    const student = studentOf(c).display_name;
    const guardian = guardianOf(c).display_name;
    const ok = await confirmDialog({
      title: t('calls.end_title', { student, guardian }),
      text: t('calls.end_text'),
      confirm: t('calls.end'),
      danger: true,
      icon: 'phone',
      testid: 'call-end-dialog',
    });
    if (!ok) return;
    btn.disabled = true;
    try {
      await call('POST', `/api/v1/calls/${encodeURIComponent(c.id)}/end`);
      toast(t('calls.ended_toast', { student, guardian }), { kind: 'success' });
    } catch (err) {
      // Over already (a side hung up meanwhile) is not a failure to report as one.
      const over = err instanceof ApiError && (err.status === 404 || err.status === 409);
      toast(over ? t('calls.already_over') : errorText(err), { kind: over ? 'info' : 'error' });
      liveCalls.load();
    } finally {
      btn.disabled = false;
    }
  }

  const unsubscribe = liveCalls.subscribe(draw);
  const timer = setInterval(tick, 1000);
  draw();
  loadNames().then(() => { if (!stopped) draw(); });
  liveCalls.load();
  return () => { stopped = true; unsubscribe(); clearInterval(timer); };
}

// District: the servers that share the district's PostgreSQL database and which schools
// each one hosts, for an admin (GET /api/v1/district answers admins only). Each server is
// a card — its name, the address the other servers reach it at, running / not answering /
// stopped and when it was last seen, its schools with their lease epoch and how long it
// has held them — and below, every school with its host and lease. A school that no
// server hosts is flagged in red, in its row and in a note at the top. The page asks
// again every 3 s; a school that changes hands is marked as it arrives at its new server.
// A deployment that keeps its schools in a data folder (one server hosts them all) has no
// leases: the API answers 404 and the page says so plainly.

import { api, ApiError } from '/common/api.js';
import { h, setChildren } from '/common/dom.js';
import { t, getLang } from '/common/i18n.js';
import { icon } from '/common/icons.js';
import { call, zone } from '../lib.js';
import { pageHeader, table, chip, loading, errorBox, emptyState, statusDot } from '../ui.js';

const REFRESH_MS = 3000;

/** "4 s", "3 min", "2 h 5 min", "1 d 3 h": a span of milliseconds, for a person. */
export function span(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return t('district.secs', { n: s });
  const m = Math.floor(s / 60);
  if (m < 60) return t('district.mins', { n: m });
  const hours = Math.floor(m / 60);
  if (hours < 24) return t('district.hours', { h: hours, m: m % 60 });
  return t('district.days', { d: Math.floor(hours / 24), h: hours % 24 });
}

/** A server's state as a dot and a word: running, not answering (silent), stopped. */
function serverState(state) {
  if (state === 'running') return statusDot(true, t('district.state.running'), 'on');
  if (state === 'silent') return statusDot(false, t('district.state.silent'), 'wait');
  if (state === 'stopped') return statusDot(false, t('district.state.stopped'), 'off');
  return statusDot(false, state, 'off');
}

export function mount(root) {
  const live = h('span', { class: 'live-badge', 'data-testid': 'district-live' });
  const body = h('div', { class: 'district', 'data-testid': 'district' }, loading());
  setChildren(root, pageHeader(t('nav.district'), t('district.sub'), live), body);

  const state = { data: null, error: null, updated: null, here: null };
  /** slug → "host@epoch" as last drawn, to mark a school that moved. */
  let drawn = new Map();
  let stopped = false;
  let timer = null;

  // Which school this console is (its slug), to mark it among the others.
  api('GET', '/api/v1/school').then((info) => {
    state.here = info?.slug || null;
    if (!stopped && state.data) draw();
  }).catch(() => {});

  async function load() {
    clearTimeout(timer);
    try {
      const data = await call('GET', '/api/v1/district');
      if (stopped) return;
      state.data = data;
      state.error = null;
      state.updated = new Date();
      draw();
    } catch (err) {
      if (stopped) return;
      if (err instanceof ApiError && err.status === 404) {
        // No leases: the schools are in a data folder, on this one server. Nothing to
        // refresh either.
        setChildren(live);
        const sub = root.querySelector('.page-sub');
        if (sub) sub.hidden = true; // it speaks of several servers
        setChildren(body, h('div', { class: 'card', 'data-testid': 'district-single' },
          emptyState('server', t('district.single_title'), t('district.single_text'))));
        return;
      }
      state.error = err;
      if (!state.data) setChildren(body, errorBox(err, load));
      drawLive();
    }
    if (!stopped) timer = setTimeout(load, REFRESH_MS);
  }

  function drawLive() {
    const time = state.updated
      ? new Intl.DateTimeFormat(getLang(), { timeZone: zone(), hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(state.updated)
      : '';
    setChildren(live, state.error
      ? statusDot(false, t('district.stale'), 'wait')
      : statusDot(true, t('district.live', { time })));
  }

  function draw() {
    drawLive();
    const { servers, schools } = state.data;
    const before = drawn;
    drawn = new Map(schools.map((s) => [s.slug, `${s.host ?? ''}@${s.epoch}`]));
    // A school that arrived at a host (another, or the same at a new epoch) since the
    // last draw arrives softly; one without a host does not move.
    const moved = (s) => Boolean(s.host) && before.size > 0 && before.get(s.slug) !== drawn.get(s.slug);
    const unhosted = schools.filter((s) => !s.host);
    const running = servers.filter((s) => s.state === 'running').length;

    setChildren(body,
      h('div', { class: 'stats district-stats' },
        stat(t('district.stat.servers'), `${running} / ${servers.length}`, 'stat-servers'),
        stat(t('district.stat.hosted'), `${schools.length - unhosted.length} / ${schools.length}`, 'stat-hosted'),
        stat(t('district.stat.unhosted'), String(unhosted.length), 'stat-unhosted', unhosted.length > 0)),
      unhosted.length ? h('div', { class: 'note note-danger district-note', role: 'alert', 'data-testid': 'district-unhosted' },
        icon('alert'),
        h('div', {},
          h('strong', { text: t('district.unhosted_title', { n: unhosted.length }) }), ' ',
          h('span', { text: unhosted.map((s) => `${s.name} (${s.slug})`).join(', ') }),
          h('p', { text: t('district.unhosted_text') }))) : null,
      h('h2', { class: 'district-title', text: t('district.servers') }),
      servers.length
        ? h('div', { class: 'server-grid', 'data-testid': 'district-servers' }, servers.map((s) => serverCard(s, schools, moved)))
        : h('div', { class: 'card' }, emptyState('server', t('district.no_servers'), t('district.no_servers_text'))),
      h('h2', { class: 'district-title', text: t('district.schools') }),
      h('div', { class: 'card' }, table({
        testid: 'district-schools',
        rowTestid: 'district-school',
        key: (s) => s.slug,
        rows: schools,
        rowClass: (s) => [s.host ? '' : 'row-unhosted', moved(s) ? 'row-arrived' : ''].join(' ').trim(),
        columns: [
          { label: t('district.col.school'), render: schoolCell },
          { label: t('district.col.host'), render: hostCell },
          { label: t('district.col.epoch'), className: 'num', render: (s) => h('span', { 'data-testid': 'school-epoch', text: String(s.epoch) }) },
          { label: t('district.col.held'), className: 'nowrap', render: (s) => (s.host ? h('span', { 'data-testid': 'school-held', text: span(s.held_for_ms) }) : h('span', { class: 'dim', text: '—' })) },
          { label: t('district.col.lease'), className: 'nowrap', render: leaseCell },
        ],
      })),
      h('p', { class: 'district-foot', text: t('district.epoch_note') }));
  }

  function stat(label, value, testid, alarm = false) {
    return h('div', { class: `stat${alarm ? ' stat-alarm' : ''}`, 'data-testid': testid },
      h('span', { class: 'stat-value', text: value }), h('span', { class: 'stat-label', text: label }));
  }

  function hereChip(slug) {
    return slug === state.here ? chip(t('district.this_school'), 'accent', { 'data-testid': 'this-school' }) : null;
  }

  function serverCard(server, schools, moved) {
    const hosted = schools.filter((s) => s.host === server.name);
    return h('section', {
      class: `server-card state-${server.state}`, 'data-testid': 'district-server', 'data-name': server.name, 'data-state': server.state,
    },
    h('div', { class: 'server-head' },
      h('span', { class: 'plate-icon' }, icon('server')),
      h('div', { class: 'server-titles' },
        h('strong', { class: 'server-name', 'data-testid': 'server-name', text: server.name }),
        h('span', { class: 'server-url', 'data-testid': 'server-url', text: server.url })),
      h('span', { 'data-testid': 'server-state' }, serverState(server.state))),
    h('p', { class: 'server-seen', 'data-testid': 'server-seen', text: t('district.last_seen', { ago: span(server.last_seen_ms_ago) }) }),
    h('div', { class: 'server-schools' },
      h('p', { class: 'server-count', 'data-testid': 'server-count', text: t('district.hosts_n', { n: hosted.length }) }),
      hosted.length
        ? h('ul', { class: 'server-list' }, hosted.map((s) => h('li', {
          class: `server-school${moved(s) ? ' arrived' : ''}`, 'data-testid': 'server-school', 'data-slug': s.slug, 'data-epoch': String(s.epoch),
        },
        h('div', { class: 'server-school-name' },
          h('span', { text: s.name }), h('span', { class: 'cell-sub', text: s.slug })),
        hereChip(s.slug),
        chip(t('district.epoch_n', { n: s.epoch }), 'neutral', { 'data-testid': 'server-school-epoch' }),
        h('span', { class: 'server-school-held', title: t('district.col.held'), text: span(s.held_for_ms) }))))
        : null));
  }

  function schoolCell(s) {
    return h('div', { class: 'cell-school' },
      h('div', {}, h('span', { class: 'school-name', 'data-testid': 'school-name', text: s.name }), h('span', { class: 'cell-sub', text: s.slug })),
      hereChip(s.slug));
  }

  function hostCell(s) {
    if (!s.host) return chip(t('district.no_host'), 'red', { 'data-testid': 'school-host', 'data-host': '' });
    return h('span', { class: 'school-host', 'data-testid': 'school-host', 'data-host': s.host },
      icon('server'), h('span', { text: s.host }));
  }

  function leaseCell(s) {
    if (s.host) return h('span', { 'data-testid': 'school-lease', text: t('district.lease_left', { left: span(s.expires_in_ms) }) });
    // No live holder: never taken yet, held by a server that stopped answering, run out,
    // or freed (on purpose, or after a server failed to open the school).
    let text;
    if (s.epoch === 0) text = t('district.lease_new');
    else if (s.expires_in_ms > 0) text = t('district.lease_holder_silent');
    else if (s.held_for_ms > -s.expires_in_ms) text = t('district.lease_ran_out', { ago: span(-s.expires_in_ms) });
    else text = t('district.lease_free', { ago: span(s.held_for_ms) });
    return h('span', { class: 'lease-out', 'data-testid': 'school-lease', text });
  }

  load();
  return () => { stopped = true; clearTimeout(timer); };
}

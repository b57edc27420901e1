// The school's notices in the family app (issue 17, item 15): what the school addressed
// to the whole school or to one of the reader's children's classes, newest first, from
// `GET /api/v1/notices/feed`. The home screen shows the newest two; "All notices" opens
// the whole feed in a sheet. Signage for rooms only stays on the doorplates.

import { api } from '/common/api.js';
import { h } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { icon } from '/common/icons.js';
import { token } from './state.js';
import { listTime, openSheet } from './ui.js';

const ON_HOME = 2;

/** For whom: "Whole school" or the reader's classes it is addressed to. */
function audience(n) {
  return n.classes?.length ? n.classes.join(', ') : t('notices.whole_school');
}

function card(n, { full = false } = {}) {
  return h('article', { class: `feed-notice kind-${n.kind}${full ? ' full' : ''}`, 'data-testid': 'feed-notice', dataset: { noticeId: n.id } },
    h('div', { class: 'feed-meta' },
      h('span', { class: 'feed-kind' }, icon('megaphone'), t(`notices.kind.${n.kind}`)),
      h('span', { class: 'feed-for', 'data-testid': 'feed-for' }, audience(n)),
      h('time', { class: 'feed-time' }, listTime(n.created_at))),
    h('h3', { class: 'feed-title', 'data-testid': 'feed-title' }, n.title),
    n.body ? h('p', { class: 'feed-body' }, n.body) : null);
}

/**
 * @param {object} opts
 * @param {(err: unknown) => void} opts.onError
 */
export function createNoticeFeed({ onError }) {
  const title = h('h2', { class: 'section-title' });
  const list = h('div', { class: 'feed-list', 'data-testid': 'notice-feed' });
  const more = h('button', { type: 'button', class: 'btn btn-outline feed-more', 'data-testid': 'feed-all', onclick: () => openAll() });
  const el = h('section', { class: 'feed', hidden: true }, title, list, more);
  let items = [];

  function draw() {
    el.hidden = items.length === 0;
    title.textContent = t('notices.title');
    list.replaceChildren(...items.slice(0, ON_HOME).map((n) => card(n)));
    more.hidden = items.length <= ON_HOME;
    more.textContent = t('notices.all', { n: items.length });
  }

  function openAll() {
    openSheet({ title: t('notices.title'), content: h('div', { class: 'feed-list' }, items.map((n) => card(n, { full: true }))), testid: 'notices-sheet' });
  }

  async function load() {
    try {
      items = await api('GET', '/api/v1/notices/feed', { token: token() });
      draw();
    } catch (err) {
      onError(err);
    }
  }

  function clear() {
    items = [];
    draw();
  }

  return { el, draw, load, clear };
}

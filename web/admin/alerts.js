// The console's strip of urgent alerts (issue 17): a class teacher sees each urgent
// message a guardian sent to a child of their class, above every view, until they
// acknowledge it. The conversation itself is in the family app, so "Open the
// conversation" opens the app on the teacher's conversation with that guardian.

import { h } from '/common/dom.js';
import { t, formatTime } from '/common/i18n.js';
import { icon } from '/common/icons.js';
import { call, errorText, zone } from './lib.js';
import { toast } from './ui.js';

/** Returns `{el, load(), remove(id), draw()}`; `el` is empty while nothing is open. */
export function createAlerts() {
  const el = h('section', { class: 'console-alerts', 'data-testid': 'alerts', 'aria-live': 'assertive', hidden: true });
  let list = [];

  function draw() {
    el.hidden = list.length === 0;
    if (!list.length) {
      el.replaceChildren();
      return;
    }
    el.replaceChildren(
      h('div', { class: 'console-alerts-head' },
        icon('alert'),
        h('span', { text: t('alerts.title') }),
        h('span', { class: 'alerts-count', 'data-testid': 'alerts-count', 'aria-label': t('alerts.count', { n: list.length }), text: String(list.length) })),
      h('ul', { class: 'console-alerts-list' }, list.map((a) => h('li', { class: 'console-alert', 'data-testid': 'urgent-alert', dataset: { alertId: a.id } },
        h('span', { class: 'console-alert-text' },
          h('strong', { text: t('alert.urgent', { from: a.from_name, student: a.student_name }) }),
          h('time', { class: 'console-alert-time', text: formatTime(a.at, zone()) })),
        h('a', {
          class: 'btn btn-outline btn-small', 'data-testid': 'alert-open', target: '_blank', rel: 'noopener',
          href: `/app/#/to/${encodeURIComponent(a.from_id)}`,
        }, t('alert.open')),
        h('button', { type: 'button', class: 'btn btn-primary btn-small', 'data-testid': 'alert-ack', onclick: () => acknowledge(a) }, t('alert.ack'))))));
  }

  async function acknowledge(a) {
    try {
      await call('POST', `/api/v1/alerts/${encodeURIComponent(a.id)}/ack`);
      remove(a.id);
    } catch (err) {
      toast(errorText(err), { kind: 'error' });
    }
  }

  function remove(id) {
    list = list.filter((x) => x.id !== id);
    draw();
  }

  async function load() {
    try {
      list = (await call('GET', '/api/v1/alerts')).alerts || [];
      draw();
    } catch (err) {
      console.warn('could not load alerts', err);
    }
  }

  return { el, load, remove, draw };
}

// A class teacher's urgent alerts (issue 17): an urgent message from a guardian to a
// child of their class stays here, over every screen, until the teacher acknowledges it.
// Loaded from `GET /api/v1/alerts` (so a reload or another phone still shows it), added
// live by `message.urgent`, and removed by "Acknowledge" or by `alert.acknowledged` from
// the teacher's other devices. The count is the app's badge.

import { api } from '/common/api.js';
import { h } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { icon } from '/common/icons.js';
import { toast } from '/common/ui.js';
import { token } from './state.js';
import { listTime } from './ui.js';

/**
 * @param {object} opts
 * @param {(fromId: string) => Promise<void>} opts.onOpen  opens the conversation with the sender
 * @param {(err: unknown) => void} opts.onError
 * @param {(count: number) => void} opts.onCount  the number of open alerts changed
 */
export function createAlerts({ onOpen, onError, onCount }) {
  const el = h('div', { class: 'alerts', 'data-testid': 'alerts', 'aria-live': 'assertive' });
  /** Open alerts, newest first: {id?, from_id, from_name, student_name, at}. */
  let list = [];

  function draw() {
    if (!list.length) {
      el.replaceChildren();
      onCount(0);
      return;
    }
    el.replaceChildren(
      h('div', { class: 'alerts-head' },
        icon('urgent'),
        h('span', { class: 'alerts-title' }, t('alerts.title')),
        h('span', { class: 'badge alerts-count', 'data-testid': 'alerts-count', 'aria-label': t('alerts.count', { n: list.length }) }, String(list.length))),
      ...list.map((a) => h('div', { class: 'alert-urgent', role: 'alert', 'data-testid': 'urgent-alert', dataset: { alertId: a.id || '' } },
        h('button', {
          type: 'button', class: 'alert-text', 'data-testid': 'alert-open', title: t('alert.open'),
          onclick: () => open(a),
        },
        h('span', { class: 'alert-line' }, t('alert.urgent', { from: a.from_name || '', student: a.student_name || '' })),
        a.at ? h('time', { class: 'alert-time' }, listTime(a.at)) : null),
        h('button', { type: 'button', class: 'alert-btn', 'data-testid': 'alert-ack', onclick: () => acknowledge(a) }, t('alert.ack')))));
    onCount(list.length);
  }

  async function open(a) {
    try {
      await onOpen(a.from_id);
    } catch {
      toast(t('contacts.not_allowed'), { kind: 'error' });
    }
  }

  async function acknowledge(a) {
    if (a.id) {
      try {
        await api('POST', `/api/v1/alerts/${encodeURIComponent(a.id)}/ack`, { token: token() });
      } catch (err) {
        onError(err);
        toast(t('error.generic'), { kind: 'error' });
        return;
      }
    }
    remove(a.id, a);
  }

  function remove(id, entry = null) {
    list = list.filter((x) => (entry ? x !== entry : x.id !== id));
    draw();
  }

  /** Reloads the open alerts from the server. */
  async function load() {
    try {
      const res = await api('GET', '/api/v1/alerts', { token: token() });
      // Keep a live one the server could not store (it has no id) until dismissed.
      list = [...(res.alerts || []), ...list.filter((x) => !x.id)];
      draw();
    } catch (err) {
      onError(err);
    }
  }

  /** A live `message.urgent`. */
  function add(data) {
    const id = data.alert_id || null;
    if (id && list.some((x) => x.id === id)) return;
    list.unshift({
      id, from_id: data.from_id, from_name: data.from_name, student_name: data.student_name,
      at: new Date().toISOString(),
    });
    draw();
  }

  function clear() {
    list = [];
    draw();
  }

  return { el, load, add, remove: (id) => remove(id), clear, draw };
}

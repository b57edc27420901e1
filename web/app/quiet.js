// Staff quiet hours in the family app: the sheet where a teacher sets them (per weekday,
// in the school's time), and the line a correspondent sees while they are on ("Ms Zhao
// is in quiet hours until 07:00"). The rule itself is the server's (domain::quiet).

import { api } from '/common/api.js';
import { h } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { toast } from '/common/ui.js';
import { token } from './state.js';
import { openSheet } from './ui.js';

/** Whether a person of this role has quiet hours (teachers and admins). */
export const hasQuietHours = (user) => user?.role === 'teacher' || user?.role === 'admin';

/**
 * "Ms Zhao is in quiet hours until 07:00" (or "until tomorrow 07:00", "until Mon 07:00")
 * while `peer.quiet` holds and has not ended; null otherwise.
 */
export function quietLine(peer) {
  const q = peer?.quiet;
  if (!q || (q.until && Date.parse(q.until) <= Date.now())) return null;
  const when = q.days_ahead === 0 ? t('quiet.until_today', { time: q.until_time })
    : q.days_ahead === 1 ? t('quiet.until_tomorrow', { time: q.until_time })
      : t('quiet.until_day', { day: t(`weekday.${q.until_weekday}`), time: q.until_time });
  return t('quiet.peer', { name: peer.display_name, when });
}

const DEFAULT_FROM = '18:00';
const DEFAULT_TO = '07:00';

/** Opens the teacher's quiet-hours sheet: load, edit seven days, save. */
export async function openQuietHours() {
  const body = h('div', { class: 'quiet-form', 'data-testid': 'quiet-form' }, h('p', { class: 'muted' }, t('contacts.loading')));
  const sheet = openSheet({ title: t('quiet.title'), content: body, testid: 'quiet-sheet' });
  let current;
  try {
    current = await api('GET', '/api/v1/me/quiet-hours', { token: token() });
  } catch {
    body.replaceChildren(h('p', { class: 'muted' }, t('error.generic')));
    return;
  }
  const days = current.quiet_hours?.days || [null, null, null, null, null, null, null];
  const rows = days.map((d, i) => dayRow(i, d));
  const save = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'quiet-save' }, t('quiet.save'));
  const status = h('p', { class: 'quiet-now', 'data-testid': 'quiet-now' }, nowText(current.now));
  save.onclick = async () => {
    save.disabled = true;
    try {
      const quiet_hours = { days: rows.map((r) => r.value()) };
      const res = await api('PUT', '/api/v1/me/quiet-hours', { token: token(), body: { quiet_hours } });
      status.textContent = nowText(res.now);
      toast(t('quiet.saved'), { kind: 'success' });
      sheet.close();
    } catch {
      toast(t('error.generic'), { kind: 'error' });
    } finally {
      save.disabled = false;
    }
  };
  body.replaceChildren(
    h('p', { class: 'quiet-help' }, t('quiet.help')),
    status,
    h('ul', { class: 'quiet-days' }, ...rows.map((r) => r.el)),
    save);
}

function nowText(now) {
  return now ? t('quiet.now_on', { time: now.until_time }) : t('quiet.now_off');
}

/** One weekday: on/off, all day, from and to. `value()` is its span or null. */
function dayRow(i, span) {
  const allDay = !!span && span.from === span.to;
  const on = h('input', { type: 'checkbox', checked: !!span, 'data-testid': 'quiet-day-on' });
  const all = h('input', { type: 'checkbox', checked: allDay, 'data-testid': 'quiet-day-all' });
  const from = h('input', { type: 'time', value: span && !allDay ? span.from : DEFAULT_FROM, 'aria-label': t('quiet.from'), 'data-testid': 'quiet-from' });
  const to = h('input', { type: 'time', value: span && !allDay ? span.to : DEFAULT_TO, 'aria-label': t('quiet.to'), 'data-testid': 'quiet-to' });
  const times = h('span', { class: 'quiet-times' }, from, h('span', { 'aria-hidden': 'true' }, '–'), to);
  const el = h('li', { class: 'quiet-day', 'data-testid': 'quiet-day', dataset: { day: String(i + 1) } },
    h('label', { class: 'quiet-name' }, on, h('span', {}, t(`weekday.${i + 1}`))),
    h('label', { class: 'quiet-all' }, all, h('span', {}, t('quiet.all_day'))),
    times);
  const sync = () => {
    el.dataset.on = String(on.checked);
    all.disabled = !on.checked;
    from.disabled = to.disabled = !on.checked || all.checked;
    times.hidden = on.checked && all.checked;
  };
  on.onchange = sync;
  all.onchange = sync;
  sync();
  return {
    el,
    value: () => {
      if (!on.checked) return null;
      if (all.checked) return { from: '00:00', to: '00:00' };
      return { from: from.value || DEFAULT_FROM, to: to.value || DEFAULT_TO };
    },
  };
}

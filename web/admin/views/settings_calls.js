// The Calls card of the settings: whether calls are offered, the hours per weekday, the
// longest call, calls per student per day, video, and the exam hold (settings.calls).

import { h } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { field, input, checkbox } from '../ui.js';

/** The card's content for the current policy; `patch()` gives the new `calls` object
 *  when something changed, `null` otherwise. */
export function callsCard(policy) {
  const p = policy || {};
  const enabled = checkbox(t('settings.calls_enabled'), !!p.enabled, { 'data-testid': 'set-calls-enabled' });
  const video = checkbox(t('settings.calls_video'), !!p.video, { 'data-testid': 'set-calls-video' });
  const examHold = checkbox(t('settings.calls_exam_hold'), !!p.exam_hold, { 'data-testid': 'set-calls-exam' });
  const maxMinutes = input({ type: 'number', min: 1, max: 60, value: p.max_minutes, 'data-testid': 'set-calls-max' });
  const perDay = input({ type: 'number', min: 1, max: 50, value: p.per_student_per_day, 'data-testid': 'set-calls-per-day' });
  const days = (p.hours || []).map((span, i) => {
    const on = checkbox(t(`people.weekday.${i + 1}`), !!span, { 'data-testid': `set-calls-day-${i + 1}` });
    const from = input({ type: 'time', value: span ? span.from.slice(0, 5) : '07:00', 'aria-label': t('settings.calls_from') });
    const to = input({ type: 'time', value: span ? span.to.slice(0, 5) : '21:30', 'aria-label': t('settings.calls_to') });
    return { on, from, to };
  });
  const dayRows = days.map((d) => h('div', { class: 'inline calls-day' }, d.on.el, d.from, h('span', { class: 'dim', text: '–' }), d.to));
  const el = h('div', { class: 'form-grid', 'data-testid': 'settings-calls' },
    h('div', { class: 'field-wide' }, enabled.el),
    field(t('settings.calls_max'), h('div', { class: 'with-unit' }, maxMinutes, h('span', { class: 'unit', text: t('settings.minutes') }))),
    field(t('settings.calls_per_day'), perDay, { hint: t('settings.calls_per_day_hint') }),
    h('div', { class: 'field-wide' }, video.el),
    h('div', { class: 'field-wide form-stack' }, examHold.el, h('span', { class: 'field-hint', text: t('settings.calls_exam_hint') })),
    field(t('settings.calls_hours'), h('div', { class: 'form-stack' }, dayRows), { wide: true, hint: t('settings.calls_hours_hint') }));

  function patch() {
    const next = {
      enabled: enabled.box.checked,
      hours: days.map((d) => (d.on.box.checked ? { from: d.from.value, to: d.to.value } : null)),
      max_minutes: Math.round(Number(maxMinutes.value)),
      per_student_per_day: Math.round(Number(perDay.value)),
      video: video.box.checked,
      exam_hold: examHold.box.checked,
    };
    const norm = (x) => JSON.stringify({ ...x, hours: (x.hours || []).map((s) => s && { from: s.from.slice(0, 5), to: s.to.slice(0, 5) }) });
    return norm(next) === norm(p) ? null : next;
  }
  return { el, patch };
}

// Settings: the school's policy — time zone and language, term and holidays, how many
// doorplates a student may be present at, session idle time, what guardians see, how
// long messages are kept and how large media may be, and calls (settings_calls.js).
// Saves only what changed. Below them, the deployment's last backup (read only: backups
// are the server's, not the school's).

import { h, setChildren } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { call, formatDay, formatWhen, formatAgo } from '../lib.js';
import { pageHeader, field, input, select, checkbox, button, formError, busy, loading, errorBox, toast } from '../ui.js';
import { settingsChanged } from '../app.js';
import { callsCard } from './settings_calls.js';

const MB = 1024 * 1024;
const megabytes = (n) => `${(n / MB).toFixed(n < 10 * MB ? 1 : 0)} MB`;

export function mount(root) {
  const body = h('div', {}, loading());
  setChildren(root, pageHeader(t('nav.settings'), t('settings.sub')), body);

  async function load() {
    try {
      render(await call('GET', '/api/v1/settings'));
    } catch (err) {
      setChildren(body, errorBox(err, load));
    }
  }

  function render(s) {
    const zones = (() => { try { return Intl.supportedValuesOf('timeZone'); } catch { return []; } })();
    if (s.timezone && !zones.includes(s.timezone)) zones.unshift(s.timezone);
    const f = {
      timezone: select(zones.map((z) => ({ value: z, label: z.replace(/_/g, ' ') })), s.timezone, { 'data-testid': 'set-timezone' }),
      language: select([{ value: 'auto', label: t('settings.lang_auto') }, { value: 'zh-CN', label: '中文（简体）' }, { value: 'en', label: 'English' }], s.language, { 'data-testid': 'set-language' }),
      end_of_day: input({ type: 'time', value: (s.end_of_day || '').slice(0, 5), 'data-testid': 'set-end-of-day' }),
      term_start: input({ type: 'date', value: s.term_start || '', 'data-testid': 'set-term-start' }),
      term_end: input({ type: 'date', value: s.term_end || '', 'data-testid': 'set-term-end' }),
      max_doorplates_per_student: input({ type: 'number', min: 1, max: 5, value: s.max_doorplates_per_student, 'data-testid': 'set-max-doorplates' }),
      session_idle_seconds: input({ type: 'number', min: 10, max: 600, step: 5, value: s.session_idle_seconds, 'data-testid': 'set-idle' }),
      retention_days: input({ type: 'number', min: 1, value: s.retention_days, 'data-testid': 'set-retention' }),
      max_image_bytes: input({ type: 'number', min: 1, step: 1, value: Math.round(s.max_image_bytes / MB), 'data-testid': 'set-image-mb' }),
      max_voice_bytes: input({ type: 'number', min: 1, step: 1, value: Math.round(s.max_voice_bytes / MB), 'data-testid': 'set-voice-mb' }),
      max_video_bytes: input({ type: 'number', min: 1, step: 1, value: Math.round(s.max_video_bytes / MB), 'data-testid': 'set-video-mb' }),
    };
    const showRoom = checkbox(t('settings.show_room'), s.show_room_to_guardians, { 'data-testid': 'set-show-room' });
    const arrivals = checkbox(t('settings.arrival_notices'), s.arrival_notices, { 'data-testid': 'set-arrival-notices' });
    let holidays = [...(s.holidays || [])].sort();
    const holidayList = h('div', { class: 'chips', 'data-testid': 'set-holidays' });
    const renderHolidays = () => setChildren(holidayList, holidays.length
      ? holidays.map((d) => h('span', { class: 'person-chip date-chip' }, h('span', { text: formatDay(d, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' }) }),
        h('button', { type: 'button', class: 'chip-x', 'aria-label': t('common.remove'), onclick: () => { holidays = holidays.filter((x) => x !== d); renderHolidays(); } }, '×')))
      : h('span', { class: 'dim', text: t('settings.no_holidays') }));
    renderHolidays();
    const newHoliday = input({ type: 'date', 'data-testid': 'set-holiday-new' });
    const addHoliday = button(t('settings.add_holiday'), { iconName: 'plus', testid: 'set-holiday-add', onclick: () => {
      if (newHoliday.value && !holidays.includes(newHoliday.value)) { holidays = [...holidays, newHoliday.value].sort(); renderHolidays(); }
      newHoliday.value = '';
    } });
    const calls = callsCard(s.calls);
    const mb = (k) => h('div', { class: 'with-unit' }, f[k], h('span', { class: 'unit', text: 'MB' }));
    const errors = formError();
    const save = button(t('common.save'), { kind: 'primary', testid: 'settings-save' });
    save.addEventListener('click', () => busy(save, async () => {
      const patch = {};
      const str = (k) => { const v = f[k].value || null; if (v !== (s[k] ? String(s[k]).slice(0, k === 'end_of_day' ? 5 : undefined) : null)) patch[k] = v; };
      const num = (k, scale = 1) => { const v = Math.round(Number(f[k].value) * scale); if (Number.isFinite(v) && v !== s[k]) patch[k] = v; };
      str('timezone'); str('language'); str('end_of_day'); str('term_start'); str('term_end');
      num('max_doorplates_per_student'); num('session_idle_seconds'); num('retention_days');
      num('max_image_bytes', MB); num('max_voice_bytes', MB); num('max_video_bytes', MB);
      if (showRoom.box.checked !== s.show_room_to_guardians) patch.show_room_to_guardians = showRoom.box.checked;
      if (arrivals.box.checked !== s.arrival_notices) patch.arrival_notices = arrivals.box.checked;
      if (JSON.stringify(holidays) !== JSON.stringify([...(s.holidays || [])].sort())) patch.holidays = holidays;
      const callsPatch = calls.patch();
      if (callsPatch) patch.calls = callsPatch;
      if (!Object.keys(patch).length) { toast(t('common.no_changes')); return; }
      const res = await call('PATCH', '/api/v1/settings', { body: patch });
      const next = res && res.timezone ? res : await call('GET', '/api/v1/settings');
      settingsChanged(next);
      render(next);
    }, errors));

    const card = (title, sub, ...content) => h('section', { class: 'card card-pad settings-card' },
      h('div', { class: 'settings-head' }, h('h2', { text: title }), sub ? h('p', { text: sub }) : null), content);
    setChildren(body, h('div', { class: 'settings-grid', 'data-testid': 'settings' },
      card(t('settings.school'), t('settings.school_sub'), h('div', { class: 'form-grid' },
        field(t('settings.timezone'), f.timezone),
        field(t('settings.language'), f.language, { hint: t('settings.language_hint') }),
        field(t('settings.end_of_day'), f.end_of_day, { hint: t('settings.end_of_day_hint') }))),
      card(t('settings.term'), t('settings.term_sub'), h('div', { class: 'form-grid' },
        field(t('settings.term_start'), f.term_start),
        field(t('settings.term_end'), f.term_end),
        field(t('settings.holidays'), h('div', { class: 'form-stack' }, holidayList, h('div', { class: 'inline' }, newHoliday, addHoliday)), { wide: true }))),
      card(t('settings.presence'), t('settings.presence_sub'), h('div', { class: 'form-grid' },
        field(t('settings.max_doorplates'), f.max_doorplates_per_student, { hint: t('settings.max_doorplates_hint') }),
        field(t('settings.idle'), h('div', { class: 'with-unit' }, f.session_idle_seconds, h('span', { class: 'unit', text: t('settings.seconds') })), { hint: t('settings.idle_hint') }),
        h('div', { class: 'field-wide' }, showRoom.el),
        h('div', { class: 'field-wide form-stack' }, arrivals.el, h('span', { class: 'field-hint', text: t('settings.arrival_notices_hint') })))),
      card(t('settings.messages'), t('settings.messages_sub'), h('div', { class: 'form-grid' },
        field(t('settings.retention'), h('div', { class: 'with-unit' }, f.retention_days, h('span', { class: 'unit', text: t('settings.days') }))),
        field(t('settings.max_image'), mb('max_image_bytes')),
        field(t('settings.max_voice'), mb('max_voice_bytes')),
        field(t('settings.max_video'), mb('max_video_bytes')))),
      card(t('settings.calls'), t('settings.calls_sub'), calls.el),
      h('div', { class: 'settings-save' }, errors.el, save),
      backupCard));
    loadBackup();
  }

  // The server's own daily backup (`serve --backup-dir`): when, how large, which file.
  const backupStatus = h('p', { class: 'dim', 'data-testid': 'backup-last', text: t('common.loading') });
  const backupNotes = h('div', {});
  const backupCard = h('section', { class: 'card card-pad settings-card' },
    h('div', { class: 'settings-head' }, h('h2', { text: t('settings.backup') }), h('p', { text: t('settings.backup_sub') })),
    h('div', { class: 'form-stack' }, backupStatus, backupNotes));
  async function loadBackup() {
    try {
      const last = await call('GET', '/api/v1/backups/last');
      if (!last) {
        backupStatus.textContent = t('settings.backup_none');
        backupNotes.replaceChildren();
        return;
      }
      backupStatus.textContent = t('settings.backup_last', { when: formatWhen(last.at, { year: true }), ago: formatAgo(last.at), size: megabytes(last.size_bytes), file: last.file });
      // Whether it is sealed, and — on PostgreSQL — that the database is not in it.
      const notes = [h('p', { class: 'dim', 'data-testid': 'backup-encrypted', text: t(last.encrypted ? 'settings.backup_encrypted' : 'settings.backup_plain') })];
      if (!last.database_included) notes.push(h('p', { class: 'dim', 'data-testid': 'backup-no-database', text: t('settings.backup_no_database') }));
      backupNotes.replaceChildren(...notes);
    } catch {
      backupStatus.textContent = t('settings.backup_unknown');
    }
  }

  load();
}


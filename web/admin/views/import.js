// Import: CSV files of people, guardianships, classes, rooms and timetables. The rows are
// previewed here first, then checked by the server (a dry run, nothing written), with
// every error pointing at its line; only a clean check unlocks the real import, which is
// all or nothing. Templates and exports use the same columns.

import { h, setChildren } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { call, errorText, parseCsv, csvField, download } from '../lib.js';
import { pageHeader, button, segmented, textarea, toast, chip } from '../ui.js';
import { icon } from '/common/icons.js';

export const KINDS = {
  users: {
    columns: ['role', 'display_name', 'username', 'password', 'card_uid'],
    example: [['student', 'Amy Chen', 'amy.chen', '', '04A1B2C3'], ['student', '王小明', 'wang.xm', 'first-day-1', ''], ['guardian', 'Mei Chen', 'mei.chen', 'change-me-now', ''], ['teacher', 'Li Hua', 'li.hua', 'change-me-too', '0T55AA01']],
  },
  guardianships: {
    columns: ['guardian_username', 'student_username'],
    example: [['mei.chen', 'amy.chen']],
  },
  groups: {
    columns: ['name', 'teacher_username', 'member_usernames'],
    example: [['Class 7-2', 'li.hua', 'amy.chen;wang.xm']],
  },
  rooms: {
    columns: ['name', 'kind'],
    example: [['Room 204', 'classroom'], ['Physics lab', 'lab'], ['Dormitory 3', 'dorm']],
  },
  timetable: {
    columns: ['room', 'weekday', 'start', 'end', 'kind', 'title', 'group', 'teacher_username', 'valid_from', 'valid_until'],
    example: [['Room 204', '1', '08:00', '08:45', 'lesson', 'Mathematics', 'Class 7-2', 'li.hua', '2026-09-01', '2027-01-20']],
  },
};
const PREVIEW_ROWS = 200;

export function mount(root, { params }) {
  const state = { kind: KINDS[params.get('kind')] ? params.get('kind') : 'users', text: '', fileName: '', check: null, running: false, result: null };
  const kindInfo = h('div', { class: 'import-kind-info' });
  const text = textarea({ class: 'input textarea csv-input', spellcheck: 'false', 'data-testid': 'import-text', rows: 8 });
  const fileInput = h('input', { type: 'file', accept: '.csv,text/csv,text/plain', hidden: true, 'data-testid': 'import-file' });
  const fileLabel = h('span', { class: 'file-name' });
  const preview = h('div', { class: 'import-preview', 'data-testid': 'import-preview' });
  const outcome = h('div', { class: 'import-outcome', 'data-testid': 'import-outcome' });
  const checkBtn = button(t('import.check'), { kind: 'primary', iconName: 'check', testid: 'import-check', onclick: () => run(true) });
  const applyBtn = button('', { kind: 'primary', iconName: 'import', testid: 'import-apply', onclick: () => run(false) });
  applyBtn.hidden = true;

  const drop = h('div', { class: 'dropzone' },
    text,
    h('div', { class: 'dropzone-bar' },
      button(t('import.choose_file'), { iconName: 'file', small: true, onclick: () => fileInput.click(), testid: 'import-choose' }),
      fileLabel,
      h('span', { class: 'grow' }),
      h('span', { class: 'dim', text: t('import.drop_hint') })),
    fileInput);
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const f = e.dataTransfer.files[0];
    if (f) readFile(f);
  });
  fileInput.addEventListener('change', () => { if (fileInput.files[0]) readFile(fileInput.files[0]); });
  text.addEventListener('input', () => { state.text = text.value; state.fileName = ''; fileLabel.textContent = ''; changed(); });

  async function readFile(f) {
    state.text = await f.text();
    state.fileName = f.name;
    text.value = state.text;
    fileLabel.textContent = f.name;
    changed();
  }

  setChildren(root,
    pageHeader(t('nav.import'), t('import.sub')),
    h('div', { class: 'import-layout' },
      h('section', { class: 'card card-pad import-step' },
        stepHead(1, t('import.step_kind')),
        segmented(Object.keys(KINDS).map((k) => ({ value: k, label: t(`import.kind.${k}`) })), state.kind, (k) => { state.kind = k; renderKind(); changed(); }, 'import-kind'),
        kindInfo),
      h('section', { class: 'card card-pad import-step' },
        stepHead(2, t('import.step_data')),
        drop),
      h('section', { class: 'card card-pad import-step' },
        stepHead(3, t('import.step_check')),
        preview,
        outcome,
        h('div', { class: 'import-actions' }, checkBtn, applyBtn))));

  function stepHead(n, title) {
    return h('div', { class: 'step-head' }, h('span', { class: 'step-n', text: String(n) }), h('h2', { text: title }));
  }

  function renderKind() {
    const k = KINDS[state.kind];
    text.placeholder = [k.columns, k.example[0]].map((r) => r.join(',')).join('\n');
    setChildren(kindInfo,
      h('p', { class: 'import-help', text: t(`import.help.${state.kind}`) }),
      h('div', { class: 'columns-line' }, h('span', { class: 'dim', text: t('import.columns') }), h('div', { class: 'chips' }, k.columns.map((c) => h('code', { class: 'col-code', text: c })))),
      h('div', { class: 'inline' },
        button(t('import.template'), { small: true, iconName: 'import', testid: 'import-template', onclick: () => {
          const csv = [k.columns, ...k.example].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
          download(new Blob(['\uFEFF', csv], { type: 'text/csv;charset=utf-8' }), `doorplate-${state.kind}-template.csv`);
        } }),
        button(t('import.export'), { small: true, kind: 'quiet', iconName: 'export', testid: 'import-export', onclick: async () => {
          try {
            const blob = await call('GET', `/api/v1/export/${state.kind}`, { responseType: 'blob' });
            download(blob, `doorplate-${state.kind}.csv`);
          } catch (err) { toast(errorText(err), { kind: 'error' }); }
        } })));
  }

  /** The text or the kind changed: re-preview, and a new check is needed. */
  function changed() {
    state.check = null;
    state.result = null;
    renderPreview();
    renderOutcome();
  }

  function records() {
    return parseCsv(state.text);
  }

  function renderPreview() {
    const recs = records();
    if (!recs.length) {
      setChildren(preview, h('p', { class: 'dim import-empty', text: t('import.nothing_yet') }));
      checkBtn.disabled = true;
      return;
    }
    checkBtn.disabled = state.running;
    const [header, ...rows] = recs;
    const expected = KINDS[state.kind].columns;
    const got = header.cells.map((c) => c.trim().toLowerCase());
    const missing = expected.filter((c) => !got.includes(c));
    const errorsByLine = new Map((state.check?.errors || []).map((e) => [e.line, e.message]));
    const width = Math.max(header.cells.length, ...rows.slice(0, PREVIEW_ROWS).map((r) => r.cells.length));
    const shown = rows.slice(0, PREVIEW_ROWS);
    setChildren(preview,
      h('div', { class: 'preview-head' },
        h('strong', { text: t('import.rows_n', { n: rows.length }) }),
        state.fileName ? h('span', { class: 'dim', text: state.fileName }) : null,
        missing.length ? chip(t('import.missing_columns', { cols: missing.join(', ') }), 'red', { 'data-testid': 'import-missing' }) : chip(t('import.header_ok'), 'green')),
      h('div', { class: 'table-wrap preview-wrap' }, h('table', { class: 'table preview-table', 'data-testid': 'preview-table' },
        h('thead', {}, h('tr', {}, h('th', { class: 'line-no', text: t('import.line') }),
          Array.from({ length: width }, (_, i) => h('th', { class: expected.includes(got[i]) ? '' : 'unknown-col', text: header.cells[i] ?? '' })))),
        h('tbody', {}, shown.map((r) => {
          const err = errorsByLine.get(r.line);
          return [
            h('tr', { class: err ? 'has-error' : '', 'data-testid': 'preview-row', 'data-line': r.line },
              h('td', { class: 'line-no', text: String(r.line) }),
              Array.from({ length: width }, (_, i) => h('td', { text: got[i] === 'password' && r.cells[i] ? '••••••' : r.cells[i] ?? '' }))),
            err ? h('tr', { class: 'error-line', 'data-testid': 'preview-error', 'data-line': r.line }, h('td'), h('td', { colspan: String(width) }, icon('alert'), h('span', { text: err }))) : null,
          ];
        })))),
      rows.length > PREVIEW_ROWS ? h('p', { class: 'dim', text: t('import.more_rows', { n: rows.length - PREVIEW_ROWS }) }) : null);
  }

  function renderOutcome() {
    applyBtn.hidden = true;
    if (state.running) {
      const rows = Math.max(0, records().length - 1);
      setChildren(outcome, h('div', { class: 'progress-box', 'data-testid': 'import-progress' },
        h('div', { class: 'progress' }, h('div', { class: 'progress-bar' })),
        h('span', { text: state.running === 'check' ? t('import.checking', { n: rows }) : t('import.importing', { n: rows }) })));
      return;
    }
    if (state.result) {
      const r = state.result;
      setChildren(outcome, h('div', { class: 'result ok', 'data-testid': 'import-done' }, icon('check'),
        h('div', {}, h('strong', { text: t('import.done') }), h('p', { text: t('import.done_counts', { created: r.created, updated: r.updated }) }))));
      return;
    }
    const c = state.check;
    if (!c) { setChildren(outcome); return; }
    if (c.failure) {
      setChildren(outcome, h('div', { class: 'result bad', 'data-testid': 'import-errors' }, icon('alert'), h('div', {}, h('strong', { text: c.failure }))));
      return;
    }
    if (c.errors.length) {
      setChildren(outcome, h('div', { class: 'result bad', 'data-testid': 'import-errors' }, icon('alert'),
        h('div', {},
          h('strong', { text: t('import.errors_n', { n: c.errors.length }) }),
          h('p', { text: t('import.nothing_written') }),
          h('ul', { class: 'error-list' }, c.errors.slice(0, 50).map((e) => h('li', { 'data-testid': 'import-error', 'data-line': e.line },
            h('span', { class: 'line-tag', text: t('import.line_n', { n: e.line }) }), h('span', { text: e.message })))),
          c.errors.length > 50 ? h('p', { class: 'dim', text: t('import.more_errors', { n: c.errors.length - 50 }) }) : null)));
      return;
    }
    setChildren(outcome, h('div', { class: 'result ready', 'data-testid': 'import-ready' }, icon('check'),
      h('div', {}, h('strong', { text: t('import.ready') }), h('p', { text: t('import.ready_counts', { created: c.created, updated: c.updated }) }))));
    setChildren(applyBtn, icon('import'), h('span', { text: t('import.apply', { n: c.created + c.updated }) }));
    applyBtn.hidden = false;
    reveal();
  }

  /** Brings the outcome and its button into view after a check or an import. */
  function reveal() {
    requestAnimationFrame(() => outcome.parentElement.scrollIntoView({ block: 'end', behavior: 'smooth' }));
  }

  async function run(dryRun) {
    if (state.running) return;
    const body = state.text;
    state.running = dryRun ? 'check' : 'apply';
    checkBtn.disabled = true;
    renderOutcome();
    try {
      const res = await call('POST', `/api/v1/import/${state.kind}?dry_run=${dryRun}`, { raw: new Blob([body], { type: 'text/csv' }), contentType: 'text/csv; charset=utf-8' });
      if (dryRun) state.check = { created: res.created || 0, updated: res.updated || 0, errors: res.errors || [] };
      else if (res.errors?.length) state.check = { created: 0, updated: 0, errors: res.errors };
      else {
        state.result = res;
        toast(t('import.done_counts', { created: res.created, updated: res.updated }), { kind: 'success' });
      }
    } catch (err) {
      state.check = { failure: errorText(err), errors: [] };
    } finally {
      state.running = false;
      if (body !== state.text) { changed(); return; }
      renderPreview();
      renderOutcome();
      reveal();
    }
  }

  renderKind();
  changed();
}

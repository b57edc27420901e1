// Translations for every face: a table per language, `t(key, vars)` to look a string up,
// and helpers to format times in the school's zone and the reader's language.
//
// Languages are `zh-CN` and `en`. The school's setting (`language`: zh-CN | en | auto)
// picks the default; `auto` follows the browser. Each face adds its own strings with
// `addStrings`, and may switch language by hand with `setLang`.

export const LANGS = ['zh-CN', 'en'];

const tables = { 'zh-CN': {}, en: {} };
let current = 'en';
const listeners = new Set();

/** Strings every face shares. */
addStrings({
  en: {
    'lang.name': 'English',
    'lang.switch': '中文',
    'lang.switch.label': 'Switch language',
    'common.cancel': 'Cancel',
    'common.close': 'Close',
    'role.student': 'Student',
    'role.guardian': 'Guardian',
    'role.teacher': 'Teacher',
    'role.admin': 'Staff',
    'error.network': 'Cannot reach the server. Please try again in a moment.',
    'error.generic': 'Something went wrong. Please try again.',
    'error.throttled': 'Too many tries. Please wait {n} seconds.',
    'error.forbidden': 'That is not allowed here.',
    'error.not_found': 'That could not be found.',
    'error.too_large': 'That file is too large.',
    'time.now': 'now',
    'duration.seconds': { one: '{n} second', other: '{n} seconds' },
    'kind.lesson': 'Lesson',
    'kind.exam': 'Exam',
    'kind.meeting': 'Meeting',
    'kind.dorm': 'Dormitory',
    'kind.activity': 'Activity',
    'room.kind.classroom': 'Classroom',
    'room.kind.lab': 'Lab',
    'room.kind.office': 'Office',
    'room.kind.dorm': 'Dormitory',
    'room.kind.other': 'Other',
  },
  'zh-CN': {
    'lang.name': '中文',
    'lang.switch': 'English',
    'lang.switch.label': '切换语言',
    'common.cancel': '取消',
    'common.close': '关闭',
    'role.student': '学生',
    'role.guardian': '家长',
    'role.teacher': '老师',
    'role.admin': '教职工',
    'error.network': '暂时连不上服务器，请稍后再试。',
    'error.generic': '出了点问题，请再试一次。',
    'error.throttled': '尝试次数太多，请等待 {n} 秒。',
    'error.forbidden': '这里不允许这样操作。',
    'error.not_found': '没有找到。',
    'error.too_large': '文件太大了。',
    'time.now': '刚刚',
    'duration.seconds': { other: '{n} 秒' },
    'kind.lesson': '课程',
    'kind.exam': '考试',
    'kind.meeting': '会议',
    'kind.dorm': '宿舍',
    'kind.activity': '活动',
    'room.kind.classroom': '教室',
    'room.kind.lab': '实验室',
    'room.kind.office': '办公室',
    'room.kind.dorm': '宿舍',
    'room.kind.other': '其他',
  },
});

/** Adds strings: `{en: {key: text}, 'zh-CN': {key: text}}`. A text may be `{zero?, one?, other}` (chosen by `vars.n`). */
export function addStrings(more) {
  for (const [lang, entries] of Object.entries(more)) {
    if (!tables[lang]) tables[lang] = {};
    Object.assign(tables[lang], entries);
  }
}

/** Looks up `key` in the current language (falling back to English) and fills `{vars}`. */
export function t(key, vars = {}) {
  let entry = tables[current][key];
  if (entry === undefined) entry = tables.en[key];
  if (entry === undefined) {
    console.warn('missing translation', key);
    return key;
  }
  if (typeof entry === 'object') {
    const n = Number(vars.n ?? 0);
    const rule = n === 0 && entry.zero !== undefined ? 'zero' : new Intl.PluralRules(current).select(n);
    entry = entry[rule] ?? entry.other;
  }
  return entry.replace(/\{(\w+)\}/g, (whole, name) => (vars[name] !== undefined ? String(vars[name]) : whole));
}

/** True when the table has `key` (in the current language or English). */
export function has(key) {
  return tables[current][key] !== undefined || tables.en[key] !== undefined;
}

/** Maps a preference (`zh-CN`, `en`, `auto`, `zh-TW`, `en-GB`…) to one of `LANGS`. */
export function resolveLang(pref) {
  if (LANGS.includes(pref)) return pref;
  const candidates = pref && pref !== 'auto' ? [pref] : (navigator.languages || [navigator.language || 'en']);
  for (const c of candidates) {
    const lower = String(c).toLowerCase();
    if (lower.startsWith('zh')) return 'zh-CN';
    if (lower.startsWith('en')) return 'en';
  }
  return 'en';
}

/** Switches the language of the page; listeners re-render. */
export function setLang(pref) {
  const next = resolveLang(pref);
  const changed = next !== current;
  current = next;
  document.documentElement.lang = next;
  if (changed) for (const cb of listeners) cb(next);
  return next;
}

export function getLang() {
  return current;
}

/** Calls `cb(lang)` after every change of language; returns an unsubscribe function. */
export function onLangChange(cb) {
  listeners.add(cb);
  return () => listeners.delete(cb);
}

/**
 * Fills static markup: `data-i18n="key"` sets the text, `data-i18n-attr="attr:key;attr:key"`
 * sets attributes (placeholder, aria-label, title).
 */
export function translateDom(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':').map((s) => s.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
}

function validZone(timeZone) {
  if (!timeZone) return undefined;
  try {
    new Intl.DateTimeFormat('en', { timeZone });
    return timeZone;
  } catch {
    return undefined;
  }
}

/** Formats an instant (Date, RFC 3339 string or ms) in the given zone and the page's language. */
export function formatDate(value, timeZone, options) {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return '';
  return new Intl.DateTimeFormat(current, { ...options, timeZone: validZone(timeZone) }).format(date);
}

/** `HH:MM` (24-hour) in the given zone. */
export function formatTime(value, timeZone) {
  return formatDate(value, timeZone, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
}

// Names are compared in Chinese pinyin order whatever the reader's language: a school's
// lists mix 张小明 and Lucy Chen, and code-point order (or the root collation's
// radical-stroke order) puts 张 before 李 before 阿. The zh-CN collation orders Latin
// names as English does and Han names by pinyin; digits compare as numbers ("Class 9"
// before "Class 10").
const nameCollator = new Intl.Collator(['zh-CN-u-co-pinyin', 'zh-CN'], { numeric: true, sensitivity: 'base' });

/** Compares two names for sorting: pinyin for Chinese, alphabetical for Latin. */
export function compareNames(a, b) {
  return nameCollator.compare(String(a ?? ''), String(b ?? '')) || (String(a ?? '') < String(b ?? '') ? -1 : String(a ?? '') > String(b ?? '') ? 1 : 0);
}

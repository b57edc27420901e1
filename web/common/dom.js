// A tiny DOM builder: `h('button', {class: 'btn', onclick}, 'Text')`. Text is always set
// as text (never parsed as HTML), so names and messages cannot inject markup.

/**
 * Creates an element. In `props`: `class`, `text`, `hidden`, `dataset`, `style` (object),
 * `on<event>` (functions), `ref` (called with the element); anything else is an attribute
 * (`true` sets it empty, `false`/null/undefined leaves it out).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'hidden') el.hidden = Boolean(value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style' && typeof value === 'object') Object.assign(el.style, value);
    else if (key === 'ref') value(el);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `el`. */
export function setChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Parses a trusted SVG snippet (our own icons) into an element. */
export function svg(markup) {
  const tpl = document.createElement('template');
  tpl.innerHTML = markup.trim();
  return tpl.content.firstElementChild;
}

/**
 * The class that sets a long name smaller (it still wraps, never cut): `long-name` over 20
 * characters, `very-long-name` over 36, a CJK glyph counting as two for its width; '' else.
 */
export function nameSizeClass(name) {
  let width = 0;
  for (const ch of String(name || '')) width += /[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]/u.test(ch) ? 2 : 1;
  return width > 36 ? 'very-long-name' : width > 20 ? 'long-name' : '';
}

// Words that say who someone is to another, not their name: a guardian written as "张小明家长"
// or a student as "王同学" would otherwise show the role in the avatar.
const ROLE_SUFFIX = /(?:的)?(?:家长|妈妈|爸爸|母亲|父亲|奶奶|爷爷|外婆|外公|同学|老师)$/u;

/**
 * The initials shown in an avatar, from the name itself. A Chinese name (alone or beside a
 * Latin one, "张小明 Zhang Xiaoming") shows its given name, the last two glyphs; a name
 * that is a surname and a role word ("王同学", "张小明家长") shows the surname, never the
 * role; a transliterated name ("玛丽亚·安东尼") its first glyph, never its tail. Other
 * names show the first letters of the first and last words; remarks in brackets are not
 * the name and are skipped.
 */
export function initials(name) {
  const clean = String(name || '').replace(/[(（\[【][^)）\]】]*[)）\]】]/gu, ' ').trim();
  if (!clean) return '?';
  const han = clean.match(/[\u3400-\u9fff\uf900-\ufaff]+(?:[·・•][\u3400-\u9fff\uf900-\ufaff]+)*/u);
  if (han) {
    const glyphs = [...han[0]];
    const own = [...han[0].replace(ROLE_SUFFIX, '')];
    if (!own.length) return glyphs[0];
    if (own.length < glyphs.length || han[0].match(/[·・•]/u)) return own[0];
    return own.slice(-2).join('');
  }
  const words = clean.split(/\s+/).map((w) => w.match(/\p{L}|\p{N}/u)?.[0]).filter(Boolean);
  if (!words.length) return [...clean][0].toUpperCase();
  return (words[0] + (words.length > 1 ? words[words.length - 1] : '')).toUpperCase();
}

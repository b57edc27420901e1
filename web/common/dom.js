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

/** The initials shown in an avatar: the first letters of two words, or the first CJK glyph(s). */
export function initials(name) {
  const clean = String(name || '').trim();
  if (!clean) return '?';
  // A Chinese name (alone, or before an English one, "张小明 Zhang Xiaoming"): its given
  // name, the last two glyphs of the Chinese part.
  const han = clean.match(/[\u3400-\u9fff]+/);
  if (han) return han[0].slice(-2);
  const words = clean.split(/\s+/);
  return (words[0][0] + (words.length > 1 ? words[words.length - 1][0] : '')).toUpperCase();
}

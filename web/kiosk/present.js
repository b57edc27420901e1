// The present list: one large name tile per student here. Students with new messages come
// first, in the order their messages arrived (R5), with a count badge; names only, never
// message text. Tiles that arrive or leave are animated; nothing else moves on its own.

import { h, initials, nameSizeClass } from '/common/dom.js';
import { t, formatTime } from '/common/i18n.js';
import { avatar } from '/common/ui.js';

/**
 * The order of the tiles: hinted students by hint order, then the others by arrival.
 * @param {Array<{unread:number, hintOrder:number, since:string, display_name:string}>} entries
 */
export function tileOrder(entries, quiet) {
  const hinted = (e) => !quiet && e.unread > 0;
  return [...entries].sort((a, b) => {
    if (hinted(a) !== hinted(b)) return hinted(a) ? -1 : 1;
    if (hinted(a)) return a.hintOrder - b.hintOrder;
    const sa = Date.parse(a.since) || 0;
    const sb = Date.parse(b.since) || 0;
    return sa - sb || a.joinOrder - b.joinOrder;
  });
}

export function createPresentList(container, { onTap }) {
  const tiles = new Map(); // user id → element

  function fill(tile, e, quiet, zone) {
    const hinted = !quiet && e.unread > 0;
    tile.classList.toggle('has-unread', hinted);
    tile.classList.toggle('urgent', hinted && Boolean(e.urgent));
    tile.dataset.unread = String(e.unread || 0);
    tile.setAttribute('aria-label', hinted ? t('tile.aria.unread', { name: e.display_name, n: e.unread }) : e.display_name);
    tile.querySelector('.avatar').textContent = initials(e.display_name);
    tile.querySelector('.tile-name').textContent = e.display_name;
    const size = nameSizeClass(e.display_name);
    for (const cls of ['long-name', 'very-long-name']) tile.classList.toggle(cls, cls === size);
    const sub = tile.querySelector('.tile-sub');
    sub.textContent = hinted
      ? (e.urgent ? t('tile.urgent') : t('tile.new', { n: e.unread }))
      : e.since ? t('tile.since', { time: formatTime(e.since, zone) }) : '';
    const badge = tile.querySelector('.badge');
    badge.hidden = !hinted;
    badge.textContent = e.unread > 99 ? '99+' : String(e.unread || 0);
  }

  function create(e) {
    return h('button', {
      type: 'button', class: 'tile', 'data-testid': 'tile', 'data-user-id': e.user_id,
      onclick: () => onTap(e.user_id),
    },
    avatar(e.display_name),
    h('span', { class: 'tile-text' },
      h('span', { class: 'tile-name', 'data-testid': 'tile-name' }),
      h('span', { class: 'tile-sub' })),
    h('span', { class: 'badge', 'data-testid': 'badge' }));
  }

  /** Renders `entries` (already merged state) in order. */
  function render(entries, { quiet, zone }) {
    const ordered = tileOrder(entries, quiet);
    const before = new Map();
    for (const [id, el] of tiles) before.set(id, el.getBoundingClientRect());

    const keep = new Set(ordered.map((e) => e.user_id));
    for (const [id, el] of tiles) {
      if (keep.has(id)) continue;
      tiles.delete(id);
      leave(el);
    }

    let prev = null;
    for (const e of ordered) {
      let el = tiles.get(e.user_id);
      const fresh = !el;
      if (fresh) {
        el = create(e);
        tiles.set(e.user_id, el);
        el.classList.add('arriving');
      }
      fill(el, e, quiet, zone);
      const want = prev ? prev.nextSibling : container.firstChild;
      if (want !== el) container.insertBefore(el, want);
      prev = el;
      if (fresh) el.addEventListener('animationend', () => el.classList.remove('arriving'), { once: true });
    }

    // Slide moved tiles from where they were (FLIP): a hint moving a name to the front.
    for (const [id, rect] of before) {
      const el = tiles.get(id);
      if (!el) continue;
      const now = el.getBoundingClientRect();
      const dx = rect.left - now.left;
      const dy = rect.top - now.top;
      if (Math.abs(dx) < 1 && Math.abs(dy) < 1) continue;
      el.animate([{ transform: `translate(${dx}px, ${dy}px)` }, { transform: 'none' }],
        { duration: 320, easing: 'cubic-bezier(0.2, 0.7, 0.2, 1)' });
    }
  }

  /** A leaving tile keeps no name or id: it fades as an empty shape, then goes. */
  function leave(el) {
    el.removeAttribute('data-user-id');
    el.dataset.testid = 'tile-leaving';
    el.setAttribute('data-testid', 'tile-leaving');
    el.setAttribute('aria-hidden', 'true');
    el.disabled = true;
    for (const part of el.querySelectorAll('.tile-name, .tile-sub, .avatar, .badge')) part.textContent = '';
    el.classList.add('leaving');
    const done = () => el.remove();
    el.addEventListener('animationend', done, { once: true });
    setTimeout(done, 600);
  }

  function clear() {
    for (const el of tiles.values()) el.remove();
    tiles.clear();
  }

  return { render, clear };
}

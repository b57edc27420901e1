// A conversation on screen: its header (with the child card for a guardian's child), the
// messages with day separators (newest last, older pages loaded as the reader scrolls
// up), and the composer. Messages the reader can see are marked read.

import { api } from '/common/api.js';
import { h, setChildren } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { state, emit, me, token, thread, upsertMessages, saveThread, saveConvs, isGuardian } from './state.js';
import { pendingOf } from './send.js';
import { createBubble, updateBubble, updateProgress, keyOf } from './bubble.js';
import { createComposer } from './composer.js';
import { personAvatar, dayKey, dayLabel } from './ui.js';
import { icon } from '/common/icons.js';
import { whereLine } from './home.js';
import { quietLine } from './quiet.js';
import { drawCallSlot } from './calls.js';

const PAGE = 50;
const NEAR_TOP_PX = 240;
const NEAR_BOTTOM_PX = 90;

/**
 * @param {object} opts
 * @param {() => void} opts.onBack
 * @param {(msg) => void} opts.onSend   `{conversation_id, kind, text?, blob?, mime?, urgent}`
 * @param {(err) => void} opts.onError  an API failure (401 handling, offline state)
 * @param {() => boolean} opts.isVisible whether the thread is on screen (phone: one pane at a time)
 */
export function createThread({ onBack, onSend, onError, isVisible }) {
  let convId = null;
  let els = new Map();
  let days = new Map();
  let stuck = true;
  let loadingOlder = false;
  let lastMarked = null;
  let drawn = false;

  const backBtn = h('button', { type: 'button', class: 'icon-btn back-btn', 'data-testid': 'back', onclick: () => onBack() }, icon('back'));
  const headAvatar = h('span', { class: 'head-avatar' });
  const headName = h('h1', { class: 'head-name', 'data-testid': 'thread-name' });
  const headSub = h('p', { class: 'head-sub' });
  const callSlot = h('div', { class: 'call-slot', 'data-testid': 'call-slot' });
  const header = h('header', { class: 'bar thread-bar' }, backBtn, headAvatar, h('div', { class: 'head-text' }, headName, headSub), callSlot);
  const childCard = h('div', { class: 'child-strip', 'data-testid': 'thread-child', hidden: true });
  const quietStrip = h('div', { class: 'quiet-strip', 'data-testid': 'thread-quiet', role: 'status', hidden: true });
  const topNote = h('li', { class: 'thread-top', 'aria-live': 'polite' });
  const list = h('ol', { class: 'msgs', 'data-testid': 'messages', 'aria-live': 'polite' });
  const empty = h('div', { class: 'thread-empty', 'data-testid': 'thread-empty', hidden: true });
  const scroller = h('div', { class: 'scroller', 'data-testid': 'scroller' }, h('ol', { class: 'msgs-top' }, topNote), list, empty);
  const composer = createComposer({
    onSend: (m) => { stuck = true; onSend({ ...m, conversation_id: convId }); },
    canUrgent: () => isGuardian() && conv()?.peer.role === 'student',
  });
  const el = h('section', { class: 'thread', 'data-testid': 'thread', 'aria-labelledby': 'thread-name' }, header, childCard, quietStrip, scroller, composer.el);
  headName.id = 'thread-name';

  const conv = () => state.convs.find((c) => c.id === convId);

  scroller.addEventListener('scroll', () => {
    stuck = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < NEAR_BOTTOM_PX;
    if (scroller.scrollTop < NEAR_TOP_PX) loadOlder();
    if (stuck) markRead();
  }, { passive: true });
  // Pictures that finish loading grow the list: a reader at the bottom stays there.
  // So does one whose screen got shorter (a banner above, the keyboard, a taller composer).
  const keepBottom = new ResizeObserver(() => { if (stuck) toBottom(); });
  keepBottom.observe(list);
  keepBottom.observe(scroller);

  function toBottom() { scroller.scrollTop = scroller.scrollHeight; }

  function drawHeader() {
    const c = conv();
    if (!c) return;
    headAvatar.replaceChildren(personAvatar(c.peer, 'sm'));
    headName.textContent = c.peer.display_name;
    const child = isGuardian() && c.peer.role === 'student' ? state.children.find((k) => k.id === c.peer.id) : null;
    headSub.textContent = t(`role.${c.peer.role}`);
    if (isGuardian() && c.peer.role === 'student') drawCallSlot(callSlot, c.peer);
    else setChildren(callSlot);
    childCard.hidden = !child;
    // The peer's quiet hours: a message now waits, silently, until they end.
    const quiet = quietLine(c.peer);
    quietStrip.hidden = !quiet;
    if (quiet) setChildren(quietStrip, icon('moon'), h('span', {}, quiet));
    if (child) {
      const w = whereLine(child);
      childCard.dataset.state = child.where?.state || 'unknown';
      setChildren(childCard,
        h('span', { class: 'where-dot', 'aria-hidden': 'true' }),
        h('span', { class: 'child-strip-where', 'data-testid': 'thread-child-where' }, w),
        child.unread_by_child > 0 ? h('span', { class: 'child-strip-unread', 'data-testid': 'thread-child-unread' }, t('child.unread', { n: child.unread_by_child })) : null);
    }
  }

  function daySep(key, at) {
    let sep = days.get(key);
    if (!sep) {
      sep = h('li', { class: 'day', 'data-testid': 'day' }, h('span', {}, dayLabel(at)));
      days.set(key, sep);
    }
    return sep;
  }

  /** Redraws the messages, reusing each message's element. */
  function render({ older = false } = {}) {
    if (!convId) return;
    const th = thread(convId);
    const known = new Set(th.items.map((m) => m.client_id).filter(Boolean));
    const items = [...th.items, ...pendingOf(convId).filter((p) => !known.has(p.client_id))];
    const c = conv();
    const peerRole = c?.peer.role;
    const myId = me()?.id;
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;

    const nodes = [];
    let lastDay = null;
    const alive = new Set();
    for (const m of items) {
      const day = dayKey(m.created_at);
      if (day !== lastDay) {
        nodes.push(daySep(day, m.created_at));
        lastDay = day;
      }
      const key = keyOf(m);
      alive.add(key);
      const own = m.sender_id === myId;
      let node = els.get(key);
      if (!node) {
        node = createBubble(m, { own, peerRole });
        if (drawn && !older) node.classList.add('arrive');
        els.set(key, node);
      } else {
        updateBubble(node, m, { own, peerRole });
      }
      nodes.push(node);
    }
    for (const key of [...els.keys()]) if (!alive.has(key)) els.delete(key);
    // Move only what moved, so playing media and the scroll position are left alone.
    nodes.forEach((node, i) => {
      if (list.children[i] !== node) list.insertBefore(node, list.children[i] || null);
    });
    while (list.children.length > nodes.length) list.lastElementChild.remove();

    empty.hidden = items.length > 0 || !th.loaded;
    if (!empty.hidden) {
      const name = c?.peer.display_name || '';
      empty.replaceChildren(h('p', {}, t(peerRole === 'student' && isGuardian() ? 'thread.empty' : 'thread.empty.staff', { name })));
    }
    topNote.textContent = loadingOlder ? t('thread.load_older') : (items.length && !th.hasMore ? t('thread.start') : '');
    topNote.hidden = !topNote.textContent;

    if (older) scroller.scrollTop = scroller.scrollHeight - fromBottom;
    else if (stuck) toBottom();
    drawn = true;
    markRead();
  }

  async function loadLatest() {
    const id = convId;
    try {
      const page = await api('GET', `/api/v1/conversations/${encodeURIComponent(id)}/messages?limit=${PAGE}`, { token: token() });
      if (id !== convId) return;
      const th = thread(id);
      const had = new Set(th.items.map((m) => m.id));
      // A page that shares nothing with what we kept means a gap: start again from it.
      if (page.length === PAGE && th.items.length && !page.some((m) => had.has(m.id))) th.items = [];
      upsertMessages(id, page);
      if (!th.loaded) th.hasMore = page.length === PAGE;
      th.loaded = true;
      saveThread(id);
      render();
    } catch (err) {
      onError(err);
      thread(id).loaded = true;
      render();
    }
  }

  async function loadOlder() {
    const id = convId;
    const th = id && thread(id);
    if (!th || !th.loaded || !th.hasMore || loadingOlder) return;
    const oldest = th.items.find((m) => m.id);
    if (!oldest) return;
    loadingOlder = true;
    render({ older: true });
    try {
      const page = await api('GET', `/api/v1/conversations/${encodeURIComponent(id)}/messages?limit=${PAGE}&before=${encodeURIComponent(oldest.id)}`, { token: token() });
      if (id !== convId) return;
      upsertMessages(id, page);
      th.hasMore = page.length === PAGE;
    } catch (err) {
      onError(err);
    } finally {
      loadingOlder = false;
      if (id === convId) render({ older: true });
    }
  }

  /** Tells the server the reader saw the peer's messages (only when they are on screen). */
  async function markRead() {
    if (!convId || document.hidden || !isVisible() || !stuck) return;
    const th = thread(convId);
    const myId = me()?.id;
    const unread = th.items.filter((m) => m.sender_id !== myId && m.status !== 'read' && m.id);
    const c = conv();
    const last = unread[unread.length - 1] || (c?.unread > 0 ? [...th.items].reverse().find((m) => m.sender_id !== myId && m.id) : null);
    if (!last || lastMarked === `${convId}:${last.id}`) return;
    lastMarked = `${convId}:${last.id}`;
    const id = convId;
    try {
      await api('POST', `/api/v1/conversations/${encodeURIComponent(id)}/read`, { token: token(), body: { up_to: last.id } });
      for (const m of unread) m.status = 'read';
      if (c) c.unread = 0;
      saveThread(id);
      saveConvs();
      emit('convs');
    } catch (err) {
      lastMarked = null;
      onError(err);
    }
  }

  return {
    el,
    get id() { return convId; },
    /** Shows a conversation (cached messages at once, then the newest from the server). */
    open(id) {
      if (id === convId) {
        render();
        loadLatest();
        return;
      }
      convId = id;
      els = new Map();
      days = new Map();
      list.replaceChildren();
      stuck = true;
      drawn = false;
      lastMarked = null;
      drawHeader();
      composer.setConversation(id);
      render();
      toBottom();
      loadLatest();
    },
    close() {
      convId = null;
      composer.setConversation(null);
    },
    render,
    reload() { if (convId) loadLatest(); },
    drawHeader,
    markRead,
    progress(entry) {
      if (entry.conversation_id === convId) updateProgress(els.get(entry.client_id), entry);
    },
    translate() {
      composer.translate();
      days = new Map();
      list.replaceChildren();
      els = new Map();
      drawHeader();
      render();
      backBtn.setAttribute('aria-label', t('common.back'));
    },
    focus: () => composer.focus(),
  };
}

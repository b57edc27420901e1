// A student's personal session (R4): full screen, their conversations on the left and the
// open thread on the right, replies by text, voice, photo or video, live updates on a
// second event stream opened with the session token. Everything lives in this closure
// and in the DOM under the shell; `destroy()` drops all of it (no storage is ever used).

import { ApiError, uuid } from '/common/api.js';
import { openEvents } from '/common/events.js';
import { h, setChildren } from '/common/dom.js';
import { t, formatTime, formatDate } from '/common/i18n.js';
import { icon } from '/common/icons.js';
import { avatar } from '/common/ui.js';
import { openFrame } from './shell.js';
import { openCapture } from './capture.js';
import { serverErrorText } from '/common/errors.js';
import { traceText } from '/common/call.js';

const QUICK_REPLIES = ['quick.ok', 'quick.thanks', 'quick.see_you'];

/**
 * @param {HTMLElement} parent
 * @param {object} opts
 * @param {{session_token: string, user: object, expires_at?: string}} opts.session
 * @param {number} opts.idleSeconds
 * @param {string} [opts.timeZone]
 * @param {(reason: 'done'|'timeout'|'unauthorized'|'expired') => void} opts.onEnd
 * @param {() => boolean} opts.isQuiet  true during an exam: no sound
 * @param {(opts: object) => void} opts.chime
 * @param {(peer: object, video: boolean) => void} [opts.onCall]  call a guardian (calls.js)
 */
export function openSession(parent, { session, idleSeconds, timeZone, onEnd, isQuiet, chime, onCall }) {
  const token = session.session_token;
  const me = session.user;
  const aborter = new AbortController();
  const mediaUrls = new Map(); // media id → object URL (revoked on destroy)
  let conversations = [];
  let openId = null;
  let messages = [];
  let capture = null;
  let expiryTimer = null;

  const frame = openFrame(parent, {
    session, idleSeconds, title: t('session.title'), testid: 'session', onEnd, signal: aborter.signal,
  });
  const { shell, call, end, keepAlive } = frame;

  // ---- layout -------------------------------------------------------------------------

  const convList = h('div', { class: 'conv-list', 'data-testid': 'conversations', role: 'list' });
  const contactsPane = h('div', { class: 'contacts', 'data-testid': 'contacts', hidden: true });
  const newButton = h('button', { type: 'button', class: 'btn btn-outline new-btn', 'data-testid': 'new-conversation', onclick: showContacts },
    icon('plus'), t('session.new'));
  const left = h('aside', { class: 'conv-pane' },
    h('div', { class: 'pane-head' }, h('h2', { text: t('session.conversations') }), newButton),
    convList, contactsPane);

  const threadHead = h('div', { class: 'thread-head', 'data-testid': 'thread-head' });
  const thread = h('div', { class: 'thread', 'data-testid': 'thread', role: 'log', 'aria-live': 'polite' });
  const textInput = h('textarea', {
    class: 'composer-text', rows: 1, 'data-testid': 'composer-text', 'aria-label': t('session.type'),
    placeholder: t('session.type'), maxlength: 2000,
    oninput: () => { sendButton.disabled = !textInput.value.trim(); },
    onkeydown: (e) => { if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); sendText(); } },
  });
  const sendButton = h('button', { type: 'button', class: 'btn btn-primary send-btn', 'data-testid': 'send', disabled: true, onclick: () => sendText() },
    icon('send'), t('session.send'));
  const mediaButton = (kind, iconName) => h('button', {
    type: 'button', class: `btn btn-outline media-btn reply-${kind}`, 'data-testid': `reply-${kind}`,
    onclick: () => startCapture(kind),
  }, icon(iconName), t(`session.reply.${kind}`));
  const quick = h('div', { class: 'quick' }, QUICK_REPLIES.map((key) => h('button', {
    type: 'button', class: 'chip', 'data-testid': 'quick-reply', onclick: () => sendText(t(key)),
  }, t(key))));
  const composer = h('div', { class: 'composer', 'data-testid': 'composer' },
    quick,
    h('div', { class: 'composer-row' }, textInput, sendButton),
    h('div', { class: 'composer-media' }, mediaButton('voice', 'mic'), mediaButton('photo', 'camera'), mediaButton('video', 'video')));
  const captureHost = h('div', { class: 'capture-host' });
  const right = h('section', { class: 'thread-pane' }, threadHead, thread, composer, captureHost);
  shell.body.append(h('div', { class: 'chat' }, left, right));

  // ---- conversations ------------------------------------------------------------------

  function preview(message) {
    if (!message) return '';
    if (message.kind === 'text') return message.text || '';
    if (message.kind === 'call') return traceText(message.text);
    return t(`message.kind.${message.kind}`);
  }

  function renderConversations() {
    setChildren(convList, ...conversations.map((c) => h('button', {
      type: 'button', role: 'listitem',
      class: `conv${c.id === openId ? ' open' : ''}${c.unread ? ' unread' : ''}`,
      'data-testid': 'conversation', 'data-id': c.id, 'data-peer-id': c.peer?.id,
      onclick: () => openConversation(c.id),
    },
    avatar(c.peer?.display_name),
    h('div', { class: 'conv-text' },
      h('div', { class: 'conv-name' }, h('span', { text: c.peer?.display_name || '' }),
        h('span', { class: 'conv-role', text: c.peer?.role ? t(`role.${c.peer.role}`) : '' })),
      h('div', { class: 'conv-last', text: preview(c.last) })),
    c.unread ? h('span', { class: 'count', 'data-testid': 'conversation-unread', text: String(c.unread) }) : null)));
    if (!conversations.length) {
      convList.append(h('p', { class: 'empty-note', text: t('session.no_conversations') }));
    }
  }

  async function loadConversations() {
    conversations = (await call('GET', '/api/v1/conversations')) || [];
    renderConversations();
  }

  async function showContacts() {
    convList.hidden = true;
    contactsPane.hidden = false;
    newButton.hidden = true;
    setChildren(contactsPane, 
      h('button', { type: 'button', class: 'btn btn-quiet back-btn', onclick: hideContacts }, icon('back'), t('session.back')),
      h('p', { class: 'contacts-title', text: t('session.contacts.title') }),
      h('div', { class: 'spinner small', 'aria-hidden': 'true' }));
    let contacts = [];
    try {
      contacts = (await call('GET', '/api/v1/contacts')) || [];
    } catch {
      if (!frame.ended) contactsPane.lastChild.replaceWith(h('p', { class: 'empty-note', text: t('error.generic') }));
      return;
    }
    contactsPane.lastChild.replaceWith(h('div', { class: 'contact-list' },
      contacts.length ? contacts.map((p) => h('button', {
        type: 'button', class: 'conv', 'data-testid': 'contact', 'data-id': p.id,
        onclick: () => startConversation(p),
      },
      avatar(p.display_name),
      h('div', { class: 'conv-text' },
        h('div', { class: 'conv-name' }, h('span', { text: p.display_name }),
          h('span', { class: 'conv-role', text: t(`role.${p.role}`) })))))
        : h('p', { class: 'empty-note', text: t('session.contacts.none') })));
  }

  function hideContacts() {
    contactsPane.hidden = true;
    contactsPane.replaceChildren();
    convList.hidden = false;
    newButton.hidden = false;
  }

  async function startConversation(peer) {
    try {
      const { conversation } = await call('POST', '/api/v1/conversations', { body: { peer_id: peer.id } });
      if (!conversation.peer) conversation.peer = peer;
      if (!conversations.some((c) => c.id === conversation.id)) conversations.unshift({ unread: 0, last: null, ...conversation });
      hideContacts();
      renderConversations();
      openConversation(conversation.id);
    } catch (err) {
      if (!frame.ended) flash(err.status === 403 ? t('session.cannot_message') : errorText(err));
    }
  }

  // ---- the thread ---------------------------------------------------------------------

  async function openConversation(id) {
    openId = id;
    messages = [];
    renderConversations();
    const conv = conversations.find((c) => c.id === id);
    setChildren(threadHead, 
      avatar(conv?.peer?.display_name),
      h('div', { class: 'thread-peer' },
        h('div', { class: 'thread-name', text: conv?.peer?.display_name || '' }),
        h('div', { class: 'thread-role', text: conv?.peer?.role ? t(`role.${conv.peer.role}`) : '' })),
      conv?.peer?.role === 'guardian' && onCall ? h('div', { class: 'thread-calls' },
        h('button', { type: 'button', class: 'btn btn-outline', 'data-testid': 'call-voice', onclick: () => onCall(conv.peer, false) }, icon('phone'), t('call.voice')),
        h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'call-video', onclick: () => onCall(conv.peer, true) }, icon('video'), t('call.video'))) : null);
    setChildren(thread, h('div', { class: 'spinner', 'aria-hidden': 'true' }));
    composer.hidden = false;
    let list;
    try {
      list = await call('GET', `/api/v1/conversations/${encodeURIComponent(id)}/messages?limit=50`);
    } catch (err) {
      if (!frame.ended && openId === id) setChildren(thread, h('p', { class: 'empty-note', text: errorText(err) }));
      return;
    }
    if (frame.ended || openId !== id) return;
    messages = Array.isArray(list) ? list : (list?.messages || []);
    renderThread();
    markRead();
  }

  function renderThread() {
    thread.replaceChildren();
    let lastDay = '';
    for (const m of messages) {
      const day = formatDate(m.created_at, timeZone, { year: 'numeric', month: 'long', day: 'numeric', weekday: 'short' });
      if (day && day !== lastDay) {
        thread.append(h('div', { class: 'day', text: dayLabel(m.created_at, day) }));
        lastDay = day;
      }
      thread.append(bubble(m));
    }
    if (!messages.length) thread.append(h('p', { class: 'empty-note', text: t('session.thread.empty') }));
    scrollDown();
  }

  function dayLabel(when, formatted) {
    const fmt = (d) => formatDate(d, timeZone, { year: 'numeric', month: 'numeric', day: 'numeric' });
    const that = fmt(when);
    if (that === fmt(new Date())) return t('day.today');
    if (that === fmt(new Date(Date.now() - 86_400_000))) return t('day.yesterday');
    return formatted;
  }

  function scrollDown() {
    requestAnimationFrame(() => { thread.scrollTop = thread.scrollHeight; });
  }

  function statusLabel(m) {
    if (m.pending) return h('span', { class: 'status status-sending', text: t('message.sending') });
    if (m.failed) return h('span', { class: 'status status-failed', text: t('message.failed') });
    const rooms = Array.isArray(m.notified_rooms) ? m.notified_rooms.map((r) => (typeof r === 'string' ? r : r?.name)).filter(Boolean) : [];
    const text = m.status === 'read' ? t('message.read')
      : m.status === 'notified' ? (rooms.length ? t('message.shown_in', { room: rooms.join(', ') }) : t('message.shown'))
        : t('message.sent');
    return h('span', { class: `status status-${m.status || 'sent'}`, 'data-testid': 'message-status', 'data-status': m.status || 'sent' },
      h('span', { class: 'ticks', 'aria-hidden': 'true', text: m.status === 'sent' || !m.status ? '✓' : '✓✓' }), text);
  }

  function bubble(m) {
    const mine = m.sender_id === me.id;
    const body = [];
    if (m.kind === 'text') body.push(h('div', { class: 'text', 'data-testid': 'message-text', text: m.text || '' }));
    else if (m.kind === 'call') body.push(h('div', { class: 'text call-trace', 'data-testid': 'message-call' }, icon('phone'), h('span', { text: traceText(m.text) })));
    else {
      body.push(mediaElement(m));
      if (m.text) body.push(h('div', { class: 'text', 'data-testid': 'message-text', text: m.text }));
    }
    const el = h('div', {
      class: `msg ${mine ? 'mine' : 'theirs'}${m.urgent ? ' urgent' : ''}${m.pending ? ' pending' : ''}${m.failed ? ' failed' : ''}`,
      'data-testid': 'message', 'data-id': m.id || '', 'data-kind': m.kind, 'data-mine': String(mine),
      onclick: m.failed ? () => retry(m) : undefined,
    },
    h('div', { class: 'bubble' },
      m.urgent && !mine ? h('div', { class: 'urgent-label', text: t('message.urgent') }) : null,
      body),
    h('div', { class: 'meta' }, h('time', { text: m.created_at ? formatTime(m.created_at, timeZone) : '' }), mine ? statusLabel(m) : null));
    el._message = m;
    return el;
  }

  function mediaElement(m) {
    const id = m.media?.id;
    if (m.localUrl) return renderMedia(m.kind, m.localUrl, m.media?.mime);
    const holder = h('div', { class: `media media-${m.kind} loading`, 'data-testid': `message-${m.kind}` },
      h('div', { class: 'spinner small', 'aria-hidden': 'true' }));
    if (!id) return holder;
    loadMedia(id).then((url) => {
      if (url && !frame.ended) holder.replaceWith(renderMedia(m.kind, url, m.media?.mime));
    }).catch(() => {
      if (!frame.ended) setChildren(holder, h('span', { class: 'media-error', text: t('message.media_failed') }));
    });
    return holder;
  }

  async function loadMedia(id) {
    if (mediaUrls.has(id)) return mediaUrls.get(id);
    const blob = await call('GET', `/api/v1/media/${encodeURIComponent(id)}`, { responseType: 'blob' });
    if (frame.ended) return null;
    const url = URL.createObjectURL(blob);
    mediaUrls.set(id, url);
    return url;
  }

  function renderMedia(kind, url) {
    if (kind === 'image') return h('img', { class: 'media media-image', 'data-testid': 'message-image', src: url, alt: t('message.kind.image') });
    if (kind === 'video') return h('video', { class: 'media media-video', 'data-testid': 'message-video', src: url, controls: true, playsinline: true, preload: 'metadata' });
    return voicePlayer(url);
  }

  function voicePlayer(url) {
    const audio = h('audio', { src: url, preload: 'metadata' });
    const glyph = h('span', { class: 'play-glyph' }, icon('play'));
    const time = h('span', { class: 'tabular voice-time', text: '' });
    const clock = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
    const showLength = () => { time.textContent = Number.isFinite(audio.duration) ? clock(audio.duration) : ''; };
    // A recording made by MediaRecorder has no length in its header: seek to the end
    // once so the browser measures it, then come back.
    audio.addEventListener('loadedmetadata', () => {
      if (audio.duration === Infinity) audio.currentTime = 1e101;
      else showLength();
    });
    audio.addEventListener('durationchange', () => {
      if (Number.isFinite(audio.duration) && audio.currentTime > audio.duration - 0.01 && audio.paused) audio.currentTime = 0;
      showLength();
    });
    audio.addEventListener('timeupdate', () => { if (!audio.paused) time.textContent = clock(audio.currentTime); });
    audio.addEventListener('play', () => setChildren(glyph, icon('pause')));
    const reset = () => { setChildren(glyph, icon('play')); showLength(); };
    audio.addEventListener('pause', reset);
    audio.addEventListener('ended', reset);
    return h('button', {
      type: 'button', class: 'media media-voice voice', 'data-testid': 'message-voice', 'aria-label': t('message.kind.voice'),
      onclick: () => (audio.paused ? audio.play().catch(() => {}) : audio.pause()),
    }, glyph, h('span', { class: 'voice-wave', 'aria-hidden': 'true' }), time, audio);
  }

  async function markRead() {
    const id = openId;
    const fromPeer = messages.filter((m) => m.sender_id !== me.id && m.id);
    if (!fromPeer.length || fromPeer.every((m) => m.status === 'read')) return;
    const upTo = messages.filter((m) => m.id).at(-1).id;
    try {
      await call('POST', `/api/v1/conversations/${encodeURIComponent(id)}/read`, { body: { up_to: upTo } });
      for (const m of fromPeer) m.status = 'read';
      const conv = conversations.find((c) => c.id === id);
      if (conv) { conv.unread = 0; renderConversations(); }
    } catch { /* a later read will catch up */ }
  }

  // ---- sending ------------------------------------------------------------------------

  function addMessage(m) {
    if (m.id && messages.some((x) => x.id === m.id)) return false;
    messages.push(m);
    const empty = thread.querySelector('.empty-note');
    if (empty) empty.remove();
    thread.append(bubble(m));
    scrollDown();
    return true;
  }

  function replaceBubble(old, m) {
    const el = [...thread.querySelectorAll('[data-testid="message"]')].find((x) => x._message === old);
    const fresh = bubble(m);
    if (el) el.replaceWith(fresh); else thread.append(fresh);
  }

  async function post(conversationId, draft) {
    const { message } = await call('POST', `/api/v1/conversations/${encodeURIComponent(conversationId)}/messages`, { body: draft });
    return message;
  }

  async function deliver(pendingMsg) {
    const convId = pendingMsg.conversation_id;
    try {
      const message = await post(convId, pendingMsg.draft);
      if (frame.ended) return;
      const idx = messages.indexOf(pendingMsg);
      const already = messages.find((x) => x.id === message.id);
      if (already) {
        // The live event was faster than the answer: keep one.
        if (idx >= 0) messages.splice(idx, 1);
        [...thread.querySelectorAll('[data-testid="message"]')].find((x) => x._message === pendingMsg)?.remove();
      } else if (idx >= 0 && openId === convId) {
        if (pendingMsg.localUrl) message.localUrl = pendingMsg.localUrl;
        messages[idx] = message;
        replaceBubble(pendingMsg, message);
      }
      const conv = conversations.find((c) => c.id === convId);
      if (conv) { conv.last = message; renderConversations(); }
    } catch (err) {
      if (frame.ended) return;
      pendingMsg.pending = false;
      pendingMsg.failed = true;
      replaceBubble(pendingMsg, pendingMsg);
      flash(errorText(err));
      throw err;
    }
  }

  function retry(m) {
    if (!m.failed) return;
    m.failed = false;
    m.pending = true;
    replaceBubble(m, m);
    deliver(m).catch(() => {});
  }

  function sendText(text = textInput.value.trim()) {
    if (!text || !openId) return;
    if (text === textInput.value.trim()) {
      textInput.value = '';
      sendButton.disabled = true;
    }
    const draft = { client_id: uuid(), kind: 'text', text };
    const m = { ...draft, draft, conversation_id: openId, sender_id: me.id, pending: true, created_at: new Date().toISOString() };
    addMessage(m);
    deliver(m).catch(() => {});
  }

  function startCapture(kind) {
    if (!openId || capture) return;
    const convId = openId;
    right.classList.add('capturing');
    capture = openCapture(captureHost, {
      kind: kind === 'photo' ? 'photo' : kind,
      touch: () => { shell.touch(); keepAlive(); },
      onClose: () => { capture = null; right.classList.remove('capturing'); },
      onSend: async (blob) => {
        const mime = (blob.type || '').split(';')[0] || 'application/octet-stream';
        let uploaded;
        try {
          uploaded = await call('POST', '/api/v1/media', { raw: blob, contentType: mime });
        } catch (err) {
          err.userText = errorText(err);
          throw err;
        }
        const msgKind = kind === 'photo' ? 'image' : kind;
        const draft = { client_id: uuid(), kind: msgKind, media_id: uploaded.media_id };
        const localUrl = URL.createObjectURL(blob);
        mediaUrls.set(uploaded.media_id, localUrl);
        const m = { ...draft, draft, conversation_id: convId, sender_id: me.id, pending: true, localUrl,
          media: { id: uploaded.media_id, mime: uploaded.mime, size: uploaded.size }, created_at: new Date().toISOString() };
        if (openId === convId) addMessage(m);
        try {
          await deliver(m);
        } catch (err) {
          err.userText = errorText(err);
          throw err;
        }
      },
    });
  }

  // ---- live ---------------------------------------------------------------------------

  const events = openEvents({
    token,
    onAuthError: () => end('unauthorized'),
    onStatus: (status, { first }) => {
      right.classList.toggle('offline', status !== 'connected');
      if (status === 'connected' && !first) refresh();
    },
    onEvent: ({ type, data }) => {
      if (frame.ended) return;
      if (type === 'message.new' && data.message) onNewMessage(data.message);
      else if (type === 'message.status') onStatus(data);
      else if (type === 'resync') refresh();
    },
  });

  function onNewMessage(m) {
    const conv = conversations.find((c) => c.id === m.conversation_id);
    const fromPeer = m.sender_id !== me.id;
    if (!conv) {
      loadConversations().catch(() => {});
    } else {
      conv.last = m;
      if (fromPeer && m.conversation_id !== openId) conv.unread = (conv.unread || 0) + 1;
      renderConversations();
    }
    if (m.conversation_id === openId) {
      // Our own send, heard before its answer: it takes the pending bubble's place.
      const pendingSame = !fromPeer && messages.find((x) => x.pending && x.draft && (m.client_id
        ? x.draft.client_id === m.client_id
        : x.draft.kind === m.kind && (x.draft.text ?? null) === (m.text ?? null) && (x.draft.media_id ?? null) === (m.media?.id ?? null)));
      if (pendingSame && !messages.some((x) => x.id === m.id)) {
        if (pendingSame.localUrl) m.localUrl = pendingSame.localUrl;
        messages[messages.indexOf(pendingSame)] = m;
        replaceBubble(pendingSame, m);
      } else if (addMessage(m) && fromPeer) {
        markRead();
      }
    }
    if (fromPeer && !isQuiet()) chime({ urgent: Boolean(m.urgent) });
  }

  function onStatus({ message_id: id, status, room }) {
    const m = messages.find((x) => x.id === id);
    if (!m) return;
    m.status = status;
    if (room) m.notified_rooms = [...new Set([...(m.notified_rooms || []), typeof room === 'string' ? room : room.name])];
    replaceBubble(m, m);
  }

  async function refresh() {
    try {
      await loadConversations();
      if (openId) openConversation(openId);
    } catch { /* the next event or call will tell */ }
  }

  // ---- helpers ------------------------------------------------------------------------

  const flashBox = h('div', { class: 'flash', 'data-testid': 'session-error', role: 'alert', hidden: true });
  right.append(flashBox);
  let flashTimer = null;
  function flash(text) {
    flashBox.textContent = text;
    flashBox.hidden = false;
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => { flashBox.hidden = true; }, 6000);
  }

  function errorText(err) {
    if (!(err instanceof ApiError)) return t('error.generic');
    if (err.status === 0) return t('error.network');
    if (err.status === 413) return t('error.too_large');
    if (err.status === 429) return t('error.throttled', { n: err.retryAfter ?? 10 });
    if (err.status === 403) return t('error.forbidden');
    return serverErrorText(err) || t('error.generic');
  }

  // ---- start --------------------------------------------------------------------------

  if (session.expires_at) {
    const ms = Date.parse(session.expires_at) - Date.now();
    if (Number.isFinite(ms) && ms > 0) expiryTimer = setTimeout(() => end('expired'), Math.min(ms, 2 ** 31 - 1));
  }

  composer.hidden = true;
  setChildren(threadHead, h('div', { class: 'thread-hello', text: t('session.hello', { name: me.display_name }) }));
  loadConversations().then(() => {
    if (frame.ended) return;
    const first = conversations.find((c) => c.unread) || conversations[0];
    if (first) openConversation(first.id);
    else setChildren(thread, h('p', { class: 'empty-note big', text: t('session.start_hint') }));
  }).catch((err) => {
    if (!frame.ended) setChildren(thread, h('p', { class: 'empty-note', text: errorText(err) }));
  });

  return {
    userId: me.id,
    kind: 'student',
    openedAt: Date.now(),
    touch: shell.touch,
    destroy() {
      frame.ended = true;
      clearTimeout(expiryTimer);
      clearTimeout(flashTimer);
      aborter.abort();
      events.close();
      if (capture) capture.destroy();
      capture = null;
      for (const el of shell.root.querySelectorAll('audio, video')) {
        try { el.pause(); el.removeAttribute('src'); el.srcObject = null; el.load(); } catch { /* gone */ }
      }
      for (const url of mediaUrls.values()) URL.revokeObjectURL(url);
      mediaUrls.clear();
      conversations = [];
      messages = [];
      shell.destroy();
    },
  };
}

// One message in a thread: its bubble (text, picture, voice or video), its time and, for
// the user's own messages, the status the sender sees — sent (grey tick), shown at a
// room (blue), read (green) — or, while it is still in the outbox, its progress and a
// retry button. A bubble element is made once per message and updated in place, so a
// voice message keeps playing while its status changes.

import { h } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { icon } from '/common/icons.js';
import { traceText } from '/common/call.js';
import { clock } from './ui.js';
import { mediaUrl, openLightbox, voicePlayer } from './media.js';
import { retry, discard } from './send.js';

/** The key that stays the same from the pending send to the stored message. */
export const keyOf = (m) => m.client_id || `id:${m.id}`;

/** The status line of an own message: `{cls, icon, text}`. */
export function statusOf(m, peerRole) {
  const p = m.pending;
  if (p) {
    if (p.state === 'uploading') return { cls: 'pending', icon: 'clockSmall', text: t('status.uploading', { n: Math.round((p.progress || 0) * 100) }) };
    if (p.state === 'sending') return { cls: 'pending', icon: 'clockSmall', text: t('status.sending') };
    if (p.state === 'waiting') return { cls: 'waiting', icon: 'clockSmall', text: t('status.waiting') };
    return { cls: 'failed', icon: 'urgent', text: t('status.failed') };
  }
  if (m.status === 'read') return { cls: 'read', icon: 'ticks', text: t('status.read') };
  if (m.status === 'notified') {
    const rooms = (m.notified_rooms || []).filter(Boolean);
    if (rooms.length) return { cls: 'shown', icon: 'ticks', text: t('status.shown', { room: rooms.join(', ') }) };
    return { cls: 'shown', icon: 'ticks', text: t(peerRole === 'student' ? 'status.shown_plain' : 'status.delivered') };
  }
  return { cls: 'sent', icon: 'tick', text: t('status.sent') };
}

function photo(m) {
  const img = h('img', { alt: t('msg.image'), class: 'photo-img', decoding: 'async' });
  const failed = h('span', { class: 'photo-failed' }, icon('retry'), t('msg.media_failed'));
  const btn = h('button', { type: 'button', class: 'photo loading', 'aria-label': t('msg.image.open'), 'data-testid': 'photo' }, img, failed);
  const load = () => (m.pending?.localUrl && !m.media ? Promise.resolve(m.pending.localUrl) : mediaUrl(m.media.id));
  const start = () => {
    btn.classList.remove('failed');
    load().then((url) => {
      img.onload = () => { btn.classList.remove('loading'); btn.dataset.ready = 'true'; };
      img.src = url;
    }).catch(() => btn.classList.add('failed'));
  };
  btn.addEventListener('click', () => {
    if (btn.classList.contains('failed')) start();
    else if (img.src) openLightbox(img.src, t('msg.image'));
  });
  start();
  return btn;
}

function video(m) {
  const box = h('div', { class: 'video', 'data-testid': 'video' });
  const play = h('button', { type: 'button', class: 'video-cover', 'aria-label': t('msg.video.play') },
    h('span', { class: 'video-play' }, icon('playFilled')), h('span', { class: 'video-label' }, t('msg.video')));
  play.addEventListener('click', async () => {
    play.disabled = true;
    try {
      const url = m.pending?.localUrl && !m.media ? m.pending.localUrl : await mediaUrl(m.media.id);
      const el = h('video', { src: url, controls: true, playsinline: true, preload: 'metadata', class: 'video-el' });
      box.replaceChildren(el);
      el.play().catch(() => {});
    } catch {
      play.disabled = false;
      play.title = t('msg.media_failed');
    }
  });
  box.append(play);
  return box;
}

function content(m) {
  const parts = [];
  if (m.kind === 'image') parts.push(photo(m));
  if (m.kind === 'voice') {
    parts.push(voicePlayer(() => (m.pending?.localUrl && !m.media ? Promise.resolve(m.pending.localUrl) : mediaUrl(m.media.id))));
  }
  if (m.kind === 'video') parts.push(video(m));
  if (m.kind === 'call') {
    parts.push(h('p', { class: 'text call-trace', 'data-testid': 'msg-call' }, icon('phone'), h('span', { text: traceText(m.text) })));
    return parts;
  }
  if (m.text) parts.push(h('p', { class: 'text', 'data-testid': 'msg-text' }, m.text));
  return parts;
}

/** Makes the element of a message. `own` when the user sent it. */
export function createBubble(m, { own, peerRole }) {
  const meta = h('div', { class: 'meta' });
  const bubble = h('div', { class: 'bubble' },
    m.urgent ? h('span', { class: 'urgent-tag' }, icon('urgent'), t('msg.urgent')) : null,
    content(m),
    meta);
  const actions = h('div', { class: 'pending-actions' });
  const el = h('li', { class: `msg ${own ? 'own' : 'peer'} kind-${m.kind}${m.urgent ? ' urgent' : ''}`, 'data-testid': 'msg', dataset: { key: keyOf(m) } },
    bubble, actions);
  el._parts = { meta, actions, progress: null };
  updateBubble(el, m, { own, peerRole });
  return el;
}

/** Brings an existing element up to date with the message (status, id, pending state). */
export function updateBubble(el, m, { own, peerRole }) {
  const { meta, actions } = el._parts;
  el.dataset.id = m.id || '';
  el.dataset.clientId = m.client_id || '';
  const time = h('time', { datetime: m.created_at }, clock(m.created_at));
  if (!own) {
    el.dataset.status = m.status;
    meta.replaceChildren(time);
    actions.replaceChildren();
    return;
  }
  const st = statusOf(m, peerRole);
  el.dataset.status = m.pending ? m.pending.state : m.status;
  meta.replaceChildren(time, h('span', { class: `status status-${st.cls}`, 'data-testid': 'msg-status' }, icon(st.icon, 'status-icon'), st.text));

  const p = m.pending;
  if (!p) {
    actions.replaceChildren();
    el._parts.progress = null;
    return;
  }
  if (p.state === 'uploading') {
    if (!el._parts.progress) {
      const fill = h('span', { class: 'progress-fill' });
      el._parts.progress = fill;
      actions.replaceChildren(
        h('span', { class: 'progress', role: 'progressbar', 'aria-label': t('status.uploading', { n: '' }).trim() }, fill),
        h('button', { type: 'button', class: 'chip-btn', 'data-testid': 'msg-cancel', onclick: () => discard(p.client_id) }, icon('close'), t('common.cancel')));
    }
    el._parts.progress.style.width = `${Math.round((p.progress || 0) * 100)}%`;
    return;
  }
  el._parts.progress = null;
  if (p.state === 'waiting' || p.state === 'failed') {
    actions.replaceChildren(
      h('button', { type: 'button', class: `chip-btn ${p.state === 'failed' ? 'chip-danger' : ''}`, 'data-testid': 'msg-retry', onclick: () => retry(p.client_id) }, icon('retry'), t('common.retry')),
      h('button', { type: 'button', class: 'chip-btn chip-quiet', 'aria-label': t('common.cancel'), 'data-testid': 'msg-discard', onclick: () => discard(p.client_id) }, icon('trash')));
  } else {
    actions.replaceChildren();
  }
}

/** Updates only the upload progress of a pending bubble (called often). */
export function updateProgress(el, entry) {
  const fill = el?._parts?.progress;
  if (fill) fill.style.width = `${Math.round((entry.progress || 0) * 100)}%`;
  const status = el?.querySelector('.status');
  if (status && entry.state === 'uploading') {
    status.lastChild.textContent = t('status.uploading', { n: Math.round((entry.progress || 0) * 100) });
  }
}

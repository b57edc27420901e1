// Calls in the family app: the ringing screen (with sound, whatever screen is open), the
// in-call screen, and the call button of a child's thread — shown only when a call could
// ring now, and saying why not otherwise (`GET /api/v1/calls/check`). The media is
// common/call.js; the events come on the app's own stream (`onEvent`).

import { api } from '/common/api.js';
import { h, setChildren } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { icon } from '/common/icons.js';
import { toast } from '/common/ui.js';
import { callView, connectCall, endedText, whyNot } from '/common/call.js';
import { me, token } from './state.js';
import { beep } from './ui.js';

let live = null;   // {call, view, media}
let ring = null;   // {call, el, timer}

function stopRinging() {
  if (!ring) return;
  clearInterval(ring.timer);
  ring.el.remove();
  ring = null;
}

function showRinging(call) {
  stopRinging();
  const el = h('div', { class: 'call-view ring-screen', role: 'alertdialog', 'aria-modal': 'true', 'data-testid': 'ring-screen', 'data-video': String(call.video) },
    h('div', { class: 'call-stage' },
      h('div', { class: 'call-who' },
        h('div', { class: 'ring-icon' }, icon('phone')),
        h('h2', { class: 'call-name', 'data-testid': 'ring-name', text: call.caller.display_name }),
        h('p', { class: 'call-status', text: t(call.video ? 'call.incoming_video' : 'call.incoming') }))),
    h('div', { class: 'call-controls' },
      h('button', { type: 'button', class: 'call-btn call-end', 'data-testid': 'ring-decline', onclick: () => decline(call) }, icon('close'), h('span', { text: t('call.decline') })),
      h('button', { type: 'button', class: 'call-btn call-answer', 'data-testid': 'ring-answer', onclick: () => answer(call) }, icon('phone'), h('span', { text: t('call.answer') }))));
  document.body.append(el);
  beep();
  ring = { call, el, timer: setInterval(beep, 2000) };
}

async function decline(call) {
  stopRinging();
  await api('POST', `/api/v1/calls/${encodeURIComponent(call.id)}/decline`, { token: token() }).catch(() => {});
}

async function answer(call) {
  stopRinging();
  try {
    const res = await api('POST', `/api/v1/calls/${encodeURIComponent(call.id)}/accept`, { token: token() });
    open(res.call, { offer: false });
  } catch (err) {
    toast(endedText(err.code === 'call_ended' ? 'other' : 'other'), { kind: 'error' });
  }
}

function open(call, { offer }) {
  close();
  const peer = call.caller.id === me()?.id ? call.callee : call.caller;
  const state = { call, media: null, offer, view: null };
  state.view = callView({
    peerName: peer.display_name, call,
    onEnd: () => {
      api('POST', `/api/v1/calls/${encodeURIComponent(call.id)}/end`, { token: token() }).catch(() => {});
      close();
    },
    onMute: (on) => state.media?.mute(on),
    onCamera: (on) => state.media?.camera(on),
  });
  document.body.append(state.view.el);
  live = state;
  if (call.state === 'active') connect(state);
}

function connect(state) {
  state.media = connectCall({
    token: token(), call: state.call, offer: state.offer,
    onRemote: (s) => state.view.setRemote(s), onLocal: (s) => state.view.setLocal(s),
    onError: (e) => console.warn('call', e),
  });
}

function close() {
  if (!live) return;
  const l = live;
  live = null;
  l.media?.close();
  l.view.destroy();
}

/** Handles `call.*` events; returns true when it was one. */
export function onCallEvent(type, data) {
  if (!type.startsWith('call.')) return false;
  const call = data.call;
  const mine = me()?.id;
  if (type === 'call.ringing' && call && call.callee.id === mine && !live) showRinging(call);
  if (type === 'call.accepted' && call) {
    if (ring?.call.id === call.id) stopRinging();
    if (live?.call.id === call.id) {
      live.call = call;
      live.view.setCall(call);
      if (!live.media) connect(live);
    }
  }
  if (type === 'call.signal' && live?.call.id === data.call_id) live.media?.signal(data);
  if (type === 'call.ended' && call) {
    if (ring?.call.id === call.id) stopRinging();
    if (live?.call.id === call.id) {
      toast(endedText(call.end_reason));
      close();
    }
  }
  return true;
}

/** Places a call to a child. */
export async function placeCall(peer, video) {
  try {
    const res = await api('POST', '/api/v1/calls', { token: token(), body: { peer_id: peer.id, video } });
    open(res.call, { offer: true });
  } catch (err) {
    toast(whyNot(err.code), { kind: 'error' });
  }
}

/**
 * The call button of a child's thread: asks whether a call could ring now and shows the
 * buttons, or one line saying why not. `slot` is emptied and filled.
 */
export async function drawCallSlot(slot, peer) {
  setChildren(slot);
  if (!peer || peer.role !== 'student') return;
  let check;
  try {
    check = await api('GET', `/api/v1/calls/check?peer_id=${encodeURIComponent(peer.id)}`, { token: token() });
  } catch { return; }
  if (check.ok) {
    setChildren(slot,
      h('button', { type: 'button', class: 'icon-btn', 'data-testid': 'call-voice', 'aria-label': t('call.voice'), title: t('call.voice'), onclick: () => placeCall(peer, false) }, icon('phone')),
      check.video_allowed ? h('button', { type: 'button', class: 'icon-btn', 'data-testid': 'call-video', 'aria-label': t('call.video'), title: t('call.video'), onclick: () => placeCall(peer, true) }, icon('video')) : null);
  } else {
    setChildren(slot,
      h('button', { type: 'button', class: 'icon-btn', disabled: true, 'aria-label': t('call.voice') }, icon('phone')),
      h('span', { class: 'call-why', 'data-testid': 'call-why', text: whyNot(check.code) }));
  }
}

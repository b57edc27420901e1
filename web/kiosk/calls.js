// Calls at the door: a guardian's call rings here with the child's name only (like a
// hint); the child answers by proving who they are, which opens their personal session
// with the call. A student in their session calls a guardian from the thread. The call
// itself is common/call.js; its events come on a stream of the session's own token.

import { api } from '/common/api.js';
import { openEvents } from '/common/events.js';
import { h } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { icon } from '/common/icons.js';
import { toast } from '/common/ui.js';
import { callView, connectCall, endedText, whyNot } from '/common/call.js';

/**
 * @param {object} o
 * @param {HTMLElement} o.root                   where the ring card and the call view go
 * @param {(forName: string) => void} o.askProof  opens the proof sheet for this name
 * @param {() => boolean} o.isQuiet              an exam: no ring sound
 * @param {(opts: object) => void} o.chime
 */
export function createKioskCalls({ root, askProof, isQuiet, chime }) {
  /** callId → {userId, name, card} for the calls ringing here. */
  const ringing = new Map();
  let waitingFor = null; // {callId, userId}: the proof opened by "Answer"
  let live = null;       // the call going on in the session
  let ringTimer = null;

  function ringSound() {
    clearInterval(ringTimer);
    if (!ringing.size || isQuiet()) return;
    chime({ urgent: false });
    ringTimer = setInterval(() => { if (ringing.size && !isQuiet() && !live) chime({ urgent: false }); }, 3000);
  }

  function showRing(data) {
    if (ringing.has(data.call_id)) return;
    const card = h('div', { class: 'ring-card', role: 'alertdialog', 'data-testid': 'ring-card', 'aria-live': 'assertive' },
      h('div', { class: 'ring-icon' }, icon('phone')),
      h('h2', { 'data-testid': 'ring-name', text: t('call.for', { name: data.display_name }) }),
      h('p', { text: t('call.answer_proof') }),
      h('div', { class: 'ring-actions' },
        h('button', { type: 'button', class: 'ring-answer', 'data-testid': 'ring-answer', onclick: () => {
          waitingFor = { callId: data.call_id, userId: data.user_id };
          askProof(data.display_name);
        } }, icon('phone'), t('call.answer'))));
    ringing.set(data.call_id, { userId: data.user_id, name: data.display_name, card });
    if (!live) root.append(card);
    ringSound();
  }

  function stopRing(callId) {
    const r = ringing.get(callId);
    if (!r) return;
    r.card.remove();
    ringing.delete(callId);
    if (waitingFor?.callId === callId) waitingFor = null;
    if (!ringing.size) clearInterval(ringTimer);
  }

  /**
   * The session's own event stream for a call, connected before the call is answered or
   * placed (so no frame of it comes before the socket): resolves with the stream, whose
   * frames go to `live.onEvent`.
   */
  function callEvents(token) {
    return new Promise((resolve) => {
      let done = false;
      const stream = openEvents({
        token,
        onStatus: (status) => { if (status === 'connected' && !done) { done = true; resolve(stream); } },
        onEvent: (frame) => live?.onEvent(frame),
        onAuthError: () => { if (!done) { done = true; resolve(stream); } },
      });
      setTimeout(() => { if (!done) { done = true; resolve(stream); } }, 5000);
    });
  }

  /** Opens the call view for a call in `personal`'s session and connects it. */
  function openCall(personal, call, { offer, events }) {
    closeCall();
    for (const r of ringing.values()) r.card.remove();
    const token = personal.token;
    const me = personal.userId;
    const peer = call.caller.id === me ? call.callee : call.caller;
    let media = null;
    const view = callView({
      peerName: peer.display_name, call,
      onEnd: () => api('POST', `/api/v1/calls/${encodeURIComponent(call.id)}/end`, { token }).catch(() => {}).finally(() => closeCall()),
      onMute: (on) => media?.mute(on),
      onCamera: (on) => media?.camera(on),
    });
    root.append(view.el);
    const keep = setInterval(() => personal.touch?.(), 5000);
    const connect = (c) => {
      media = connectCall({ token, call: c, offer, onRemote: (s) => view.setRemote(s), onLocal: (s) => view.setLocal(s), onError: (e) => console.warn('call', e) });
    };
    live = {
      id: call.id, view, events, keep,
      close: () => media?.close(),
      onEvent: ({ type, data }) => {
        if ((data.call?.id ?? data.call_id) !== call.id) return;
        if (type === 'call.accepted') { view.setCall(data.call); if (!media) connect(data.call); }
        if (type === 'call.signal') media?.signal(data);
        if (type === 'call.ended') {
          toast(endedText(data.call.end_reason));
          closeCall();
        }
      },
    };
    if (call.state === 'active') connect(call);
  }

  function closeCall() {
    if (!live) return;
    const l = live;
    live = null;
    clearInterval(l.keep);
    l.events.close();
    l.close();
    l.view.destroy();
    for (const r of ringing.values()) root.append(r.card);
  }

  return {
    onDeviceEvent(type, data) {
      if (type === 'call.ringing') showRing(data);
      else if (type === 'call.ring_ended') stopRing(data.call_id);
    },
    /** A personal session opened: if it is the child "Answer" was for, answer. */
    async onSession(personal) {
      const w = waitingFor;
      if (!w || w.userId !== personal.userId) return;
      waitingFor = null;
      const events = await callEvents(personal.token);
      try {
        const res = await api('POST', `/api/v1/calls/${encodeURIComponent(w.callId)}/accept`, { token: personal.token });
        stopRing(w.callId);
        openCall(personal, res.call, { offer: false, events });
      } catch (err) {
        events.close();
        stopRing(w.callId);
        toast(endedText(err.code === 'call_ended' ? 'other' : err.code), { kind: 'error' });
      }
    },
    /** The session ended: so did its call (the server ended it too). */
    onSessionEnd() { closeCall(); },
    /** A student calls a guardian from their session. */
    async place(personal, peer, video) {
      const events = await callEvents(personal.token);
      try {
        const res = await api('POST', '/api/v1/calls', { token: personal.token, body: { peer_id: peer.id, video } });
        openCall(personal, res.call, { offer: true, events });
      } catch (err) {
        events.close();
        toast(whyNot(err.code), { kind: 'error' });
      }
    },
  };
}

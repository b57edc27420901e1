// Calls at the door: a guardian's call rings here with the child's name only (like a
// hint); the child answers by proving who they are, which opens their personal session
// with the call — whichever way the proof comes while it rings ("Answer" and the sheet, a
// card swiped or a badge shown at any moment), and whoever's session was open before
// (a new proof replaces it, R5). A child whose own session is open answers at once. A
// student in their session calls a guardian from the thread. The call itself is
// common/call.js; its events come on a stream of the session's own token.

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
 * @param {(forName: string, onClose: () => void) => void} o.askProof  opens the proof
 *        sheet for this name, over any open session; `onClose` when it is closed unused
 * @param {() => object|null} o.currentSession   the personal session open now, if any
 * @param {() => boolean} o.isQuiet              an exam: no ring sound
 * @param {(opts: object) => void} o.chime
 */
export function createKioskCalls({ root, askProof, currentSession, isQuiet, chime }) {
  /** callId → {userId, name, card} for the calls ringing here. */
  const ringing = new Map();
  let waitingFor = null; // {callId, userId}: the proof opened by "Answer"
  let live = null;       // the call going on in the session
  let ringTimer = null;
  const answering = new Set();

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
          const open = currentSession();
          // Her own session is open: she proved herself already.
          if (open && open.userId === data.user_id && open.token) { answer(open, data.call_id); return; }
          waitingFor = { callId: data.call_id, userId: data.user_id };
          // The card steps aside while the sheet asks for the proof, and comes back if
          // the sheet is closed without one.
          card.hidden = true;
          askProof(data.display_name, () => {
            if (waitingFor?.callId === data.call_id) waitingFor = null;
            card.hidden = false;
          });
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

  /** Answers a call ringing here through `personal`, the child's own session. */
  async function answer(personal, callId) {
    if (answering.has(callId)) return;
    answering.add(callId);
    const events = await callEvents(personal.token);
    try {
      const res = await api('POST', `/api/v1/calls/${encodeURIComponent(callId)}/accept`, { token: personal.token });
      stopRing(callId);
      openCall(personal, res.call, { offer: false, events });
    } catch (err) {
      events.close();
      stopRing(callId);
      toast(endedText(err.code === 'call_ended' ? 'other' : err.code), { kind: 'error' });
    } finally {
      answering.delete(callId);
    }
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
    /**
     * A personal session opened (after a proof): if a call rings here for that child —
     * the one "Answer" was pressed for, or any other — it is answered.
     */
    onSession(personal) {
      const w = waitingFor?.userId === personal.userId ? waitingFor : null;
      // Someone else proved themselves on the sheet "Answer" opened: the ring is back.
      if (waitingFor && !w) { const r = ringing.get(waitingFor.callId); if (r) r.card.hidden = false; }
      waitingFor = null;
      const callId = w?.callId ?? [...ringing].find(([, r]) => r.userId === personal.userId)?.[0];
      if (callId && ringing.has(callId)) answer(personal, callId);
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

// A live call in the browser: the WebRTC peer connection, its signalling through the API
// (`POST /api/v1/calls/{id}/signal`; the other side's arrives as `call.signal` on the
// event stream and is handed to `signal()`), and the full-screen call view both the
// kiosk and the family app show (the peer's name, the pictures, a countdown to the
// school's maximum length, mute and camera toggles, a large end button).
//
// ICE servers (and whether to use the relay only) come from `GET /api/v1/calls/ice`:
// short-lived TURN credentials for the school's relay. The caller makes the offer once
// the call is answered; the callee answers it.

import { api } from './api.js';
import { h, setChildren } from './dom.js';
import { t, addStrings } from './i18n.js';
import { icon } from './icons.js';
import { avatar } from './ui.js';

addStrings({
  en: {
    'call.voice': 'Call',
    'call.video': 'Video call',
    'call.incoming': 'Incoming call',
    'call.incoming_video': 'Incoming video call',
    'call.for': 'Call for {name}',
    'call.answer': 'Answer',
    'call.decline': 'Decline',
    'call.answer_proof': 'Tap your card, show your badge, or sign in to answer',
    'call.state.ringing': 'Ringing…',
    'call.state.active': 'Connected',
    'call.state.ended': 'Call ended',
    'call.left': '{time} left',
    'call.mute': 'Mute',
    'call.unmute': 'Unmute',
    'call.camera_off': 'Camera off',
    'call.camera_on': 'Camera on',
    'call.end': 'End call',
    'call.ended.missed': 'No answer.',
    'call.ended.declined': 'The call was declined.',
    'call.ended.max_length': 'The call reached the school’s time limit.',
    'call.ended.left': 'The call ended: your child left the doorplate.',
    'call.ended.dismissed': 'The call ended: a teacher dismissed the class.',
    'call.ended.session_closed': 'The call ended.',
    'call.ended.ended_by_staff': 'A teacher ended the call.',
    'call.ended.other': 'The call ended.',
    'call.trace.missed.video': 'Missed video call',
    'call.trace.missed.voice': 'Missed call',
    'call.trace.declined.video': 'Declined video call',
    'call.trace.declined.voice': 'Declined call',
    'call.why.calls_off': 'The school does not offer calls.',
    'call.why.call_outside_hours': 'Calls are not possible at this time of day.',
    'call.why.call_video_off': 'The school allows voice calls only.',
    'call.why.call_daily_limit': 'Today’s calls are used up.',
    'call.why.call_not_present': 'Calls ring only when your child is at a doorplate.',
    'call.why.call_exam_hold': 'Your child’s room is sitting an exam.',
    'call.why.peer_in_call': 'They are in a call right now.',
    'call.why.already_in_call': 'You are in a call already.',
    'call.why.doorplate_in_call': 'The doorplate is in a call right now.',
    'call.why.other': 'A call is not possible right now.',
  },
  'zh-CN': {
    'call.voice': '语音通话',
    'call.video': '视频通话',
    'call.incoming': '来电',
    'call.incoming_video': '视频来电',
    'call.for': '{name} 的来电',
    'call.answer': '接听',
    'call.decline': '拒绝',
    'call.answer_proof': '刷卡、出示二维码或登录后接听',
    'call.state.ringing': '正在呼叫…',
    'call.state.active': '通话中',
    'call.state.ended': '通话已结束',
    'call.left': '剩余 {time}',
    'call.mute': '静音',
    'call.unmute': '取消静音',
    'call.camera_off': '关闭摄像头',
    'call.camera_on': '打开摄像头',
    'call.end': '挂断',
    'call.ended.missed': '无人接听。',
    'call.ended.declined': '对方拒绝了通话。',
    'call.ended.max_length': '通话已达到学校规定的时长。',
    'call.ended.left': '通话已结束：孩子已离开班牌。',
    'call.ended.dismissed': '通话已结束：老师已让学生离开。',
    'call.ended.session_closed': '通话已结束。',
    'call.ended.ended_by_staff': '老师结束了通话。',
    'call.ended.other': '通话已结束。',
    'call.trace.missed.video': '未接视频通话',
    'call.trace.missed.voice': '未接通话',
    'call.trace.declined.video': '已拒绝的视频通话',
    'call.trace.declined.voice': '已拒绝的通话',
    'call.why.calls_off': '学校未开放通话。',
    'call.why.call_outside_hours': '现在不在通话时段内。',
    'call.why.call_video_off': '学校只允许语音通话。',
    'call.why.call_daily_limit': '今天的通话次数已用完。',
    'call.why.call_not_present': '孩子在班牌前时才能接到来电。',
    'call.why.call_exam_hold': '孩子所在的教室正在考试。',
    'call.why.peer_in_call': '对方正在通话中。',
    'call.why.already_in_call': '您已在通话中。',
    'call.why.doorplate_in_call': '班牌正在通话中。',
    'call.why.other': '现在无法通话。',
  },
});

/** Why a call cannot ring now, in the reader's words (from the server's code). */
export function whyNot(code) {
  const key = `call.why.${code}`;
  const text = t(key);
  return text === key ? t('call.why.other') : text;
}

/** How a call ended, in the reader's words. */
export function endedText(reason) {
  const key = `call.ended.${reason}`;
  const text = t(key);
  return text === key ? t('call.ended.other') : text;
}

/**
 * Connects the media of an answered call. Returns at once: signalling that arrives
 * while the camera and the ICE servers are still being fetched waits for them.
 * @param {object} o
 * @param {string} o.token       the bearer of this side (login or doorplate session)
 * @param {object} o.call        the call as the API shows it
 * @param {boolean} o.offer      this side makes the offer (the caller)
 * @param {(stream: MediaStream) => void} o.onRemote
 * @param {(stream: MediaStream) => void} [o.onLocal]
 * @param {(err: Error) => void} [o.onError]
 */
export function connectCall({ token, call, offer, onRemote, onLocal = () => {}, onError = () => {} }) {
  const path = `/api/v1/calls/${encodeURIComponent(call.id)}/signal`;
  const send = (body) => api('POST', path, { token, body }).catch(onError);
  let pc = null;
  let local = null;
  let closed = false;
  const pending = [];
  let remoteSet = false;

  const ready = (async () => {
    const ice = await api('GET', '/api/v1/calls/ice', { token });
    try {
      local = await navigator.mediaDevices.getUserMedia({ audio: true, video: Boolean(call.video) });
    } catch (err) {
      onError(err);
      local = new MediaStream();
    }
    if (closed) { for (const tr of local.getTracks()) tr.stop(); throw new Error('closed'); }
    onLocal(local);
    pc = new RTCPeerConnection({
      iceServers: ice.ice_servers || [],
      iceTransportPolicy: ice.ice_transport_policy === 'relay' ? 'relay' : 'all',
    });
    // For the browser tests' getStats(): the connection of the call on this page.
    globalThis.doorplateCall = pc;
    pc.onicecandidate = (e) => {
      if (e.candidate && e.candidate.candidate) {
        const c = e.candidate.toJSON();
        send({ candidate: { candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null } });
      }
    };
    const remote = new MediaStream();
    pc.ontrack = (e) => { remote.addTrack(e.track); onRemote(remote); };
    for (const track of local.getTracks()) pc.addTrack(track, local);
    if (!local.getAudioTracks().length) pc.addTransceiver('audio', { direction: 'recvonly' });
    if (call.video && !local.getVideoTracks().length) pc.addTransceiver('video', { direction: 'recvonly' });
    if (offer) {
      const o = await pc.createOffer();
      await pc.setLocalDescription(o);
      send({ sdp: { type: o.type, sdp: o.sdp } });
    }
  })();
  ready.catch((err) => { if (!closed) onError(err); });

  async function flush() {
    remoteSet = true;
    while (pending.length) await pc.addIceCandidate(pending.shift()).catch(onError);
  }

  return {
    get pc() { return pc; },
    /** Signalling from the other side (`call.signal`'s data). */
    async signal(data) {
      try {
        await ready;
        if (data.sdp) {
          await pc.setRemoteDescription(data.sdp);
          if (data.sdp.type === 'offer') {
            const a = await pc.createAnswer();
            await pc.setLocalDescription(a);
            send({ sdp: { type: a.type, sdp: a.sdp } });
          }
          await flush();
        } else if (data.candidate) {
          if (remoteSet) await pc.addIceCandidate(data.candidate);
          else pending.push(data.candidate);
        }
      } catch (err) { onError(err); }
    },
    mute(on) { for (const tr of local?.getAudioTracks() || []) tr.enabled = !on; },
    camera(on) { for (const tr of local?.getVideoTracks() || []) tr.enabled = on; },
    close() {
      closed = true;
      for (const tr of local?.getTracks() || []) tr.stop();
      if (pc) {
        pc.close();
        if (globalThis.doorplateCall === pc) globalThis.doorplateCall = null;
      }
    },
  };
}

/** "Missed video call" … for a `call` message's text (`missed:video`). */
export function traceText(text) {
  const [outcome, media] = String(text || '').split(':');
  return t(`call.trace.${outcome === 'declined' ? 'declined' : 'missed'}.${media === 'video' ? 'video' : 'voice'}`);
}

/**
 * The full-screen call view. `setCall(call)` updates it (ringing → active); `setRemote`
 * and `setLocal` show the pictures. Returns `{el, setCall, setRemote, setLocal, destroy}`.
 * @param {object} o
 * @param {string} o.peerName
 * @param {object} o.call
 * @param {() => void} o.onEnd
 * @param {(on: boolean) => void} o.onMute
 * @param {(on: boolean) => void} o.onCamera
 * @param {string} [o.timeZone]
 */
export function callView({ peerName, call, onEnd, onMute, onCamera }) {
  const remoteVideo = h('video', { class: 'call-remote', autoplay: true, playsinline: true, 'data-testid': 'call-remote' });
  const localVideo = h('video', { class: 'call-local', autoplay: true, playsinline: true, muted: true, 'data-testid': 'call-local' });
  localVideo.muted = true;
  const status = h('p', { class: 'call-status', 'data-testid': 'call-status', 'aria-live': 'polite' });
  const countdown = h('p', { class: 'call-countdown', 'data-testid': 'call-countdown' });
  let muted = false;
  let cameraOn = true;
  const muteBtn = h('button', { type: 'button', class: 'call-btn', 'data-testid': 'call-mute', 'aria-pressed': 'false',
    onclick: () => { muted = !muted; muteBtn.setAttribute('aria-pressed', String(muted)); drawButtons(); onMute(muted); } });
  const camBtn = h('button', { type: 'button', class: 'call-btn', 'data-testid': 'call-camera', 'aria-pressed': 'true',
    onclick: () => { cameraOn = !cameraOn; camBtn.setAttribute('aria-pressed', String(cameraOn)); drawButtons(); onCamera(cameraOn); } });
  const endBtn = h('button', { type: 'button', class: 'call-btn call-end', 'data-testid': 'call-end', onclick: () => onEnd() });
  function drawButtons() {
    setChildren(muteBtn, icon('mic'), h('span', { text: t(muted ? 'call.unmute' : 'call.mute') }));
    setChildren(camBtn, icon('video'), h('span', { text: t(cameraOn ? 'call.camera_off' : 'call.camera_on') }));
    setChildren(endBtn, icon('close'), h('span', { text: t('call.end') }));
  }
  drawButtons();
  const el = h('div', { class: 'call-view', role: 'dialog', 'aria-modal': 'true', 'data-testid': 'call-view' },
    h('div', { class: 'call-stage' }, remoteVideo, localVideo,
      h('div', { class: 'call-who' }, avatar(peerName), h('h2', { class: 'call-name', 'data-testid': 'call-name', text: peerName }), status, countdown)),
    h('div', { class: 'call-controls' }, muteBtn, camBtn, endBtn));
  let current = call;
  const timer = setInterval(draw, 1000);
  function draw() {
    el.dataset.state = current.state;
    el.dataset.video = current.video ? 'true' : 'false';
    camBtn.hidden = !current.video;
    status.textContent = t(`call.state.${current.state}`);
    const ends = current.state === 'active' && current.ends_at ? Date.parse(current.ends_at) : null;
    if (ends) {
      const left = Math.max(0, Math.round((ends - Date.now()) / 1000));
      countdown.textContent = t('call.left', { time: `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}` });
    } else countdown.textContent = '';
  }
  draw();
  return {
    el,
    setCall(c) { current = c; draw(); },
    setRemote(stream) { if (remoteVideo.srcObject !== stream) remoteVideo.srcObject = stream; el.classList.add('has-remote'); },
    setLocal(stream) { localVideo.srcObject = stream; },
    destroy() { clearInterval(timer); remoteVideo.srcObject = null; localVideo.srcObject = null; el.remove(); },
  };
}

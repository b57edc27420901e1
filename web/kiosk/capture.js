// Recording a reply: a voice message (MediaRecorder, audio/webm), a photo (a camera still
// drawn on a canvas, image/jpeg) or a short video (MediaRecorder, video/webm, ≤ 30 s).
// The panel owns its camera/microphone and object URLs and releases them on destroy.

import { h, setChildren } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { icon } from '/common/icons.js';

const MAX_SECONDS = { voice: 60, video: 30 };
const TYPES = {
  voice: ['audio/webm;codecs=opus', 'audio/webm', 'audio/ogg;codecs=opus', 'audio/mp4'],
  video: ['video/webm;codecs=vp8,opus', 'video/webm', 'video/mp4'],
};

function pickType(kind) {
  if (!window.MediaRecorder) return null;
  return TYPES[kind].find((type) => MediaRecorder.isTypeSupported(type)) || '';
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * @param {HTMLElement} parent
 * @param {object} opts
 * @param {'voice'|'photo'|'video'} opts.kind
 * @param {(blob: Blob) => Promise<void>} opts.onSend  resolves when sent (the panel then closes)
 * @param {() => void} opts.onClose
 * @param {() => void} opts.touch  keeps the session awake while recording
 */
export function openCapture(parent, { kind, onSend, onClose, touch }) {
  let stream = null;
  let recorder = null;
  let chunks = [];
  let blob = null;
  let previewUrl = null;
  let tick = null;
  let startedAt = 0;
  let destroyed = false;
  let audioCtx = null;

  const live = h('video', { class: 'capture-live', muted: true, playsinline: true, autoplay: true, 'data-testid': 'capture-live' });
  const stage = h('div', { class: 'capture-stage' });
  const status = h('div', { class: 'capture-status', 'data-testid': 'capture-status', 'aria-live': 'polite' });
  const actions = h('div', { class: 'capture-actions' });
  const panel = h('div', { class: `capture capture-${kind}`, 'data-testid': 'capture', 'data-kind': kind },
    h('div', { class: 'capture-title' }, icon({ voice: 'mic', photo: 'camera', video: 'video' }[kind]),
      h('span', { text: t(`capture.${kind}.title`) })),
    stage, status, actions);
  parent.append(panel);

  const button = (labelKey, iconName, onclick, cls = 'btn-outline', testid = undefined) =>
    h('button', { type: 'button', class: `btn ${cls}`, 'data-testid': testid, onclick }, icon(iconName), t(labelKey));
  const cancelButton = () => button('common.cancel', 'close', destroyAndClose, 'btn-outline', 'capture-cancel');

  function setActions(...buttons) {
    setChildren(actions, ...buttons);
  }

  async function start() {
    try {
      stream = await navigator.mediaDevices.getUserMedia(
        kind === 'voice' ? { audio: true } : { video: { facingMode: 'user', width: { ideal: 1280 }, height: { ideal: 720 } }, audio: kind === 'video' },
      );
    } catch {
      status.textContent = t(kind === 'voice' ? 'capture.no_mic' : 'capture.no_camera');
      status.classList.add('error');
      setActions(cancelButton());
      return;
    }
    if (destroyed) { release(); return; }
    if (kind === 'voice') {
      setChildren(stage, levelMeter());
      record();
    } else {
      live.srcObject = stream;
      setChildren(stage, live);
      live.play().catch(() => {});
      if (kind === 'photo') {
        status.textContent = t('capture.photo.ready');
        setActions(cancelButton(), button('capture.photo.take', 'camera', takePhoto, 'btn-primary', 'capture-take'));
      } else {
        status.textContent = t('capture.video.ready');
        setActions(cancelButton(), button('capture.video.start', 'video', record, 'btn-primary', 'capture-record'));
      }
    }
  }

  function levelMeter() {
    const bar = h('div', { class: 'level-bar' });
    const meter = h('div', { class: 'level' }, h('div', { class: 'level-mic' }, icon('mic')), h('div', { class: 'level-track' }, bar));
    try {
      audioCtx = new (window.AudioContext || window.webkitAudioContext)();
      const analyser = audioCtx.createAnalyser();
      analyser.fftSize = 512;
      audioCtx.createMediaStreamSource(stream).connect(analyser);
      const data = new Uint8Array(analyser.fftSize);
      const draw = () => {
        if (destroyed || !recorder || recorder.state !== 'recording') return;
        analyser.getByteTimeDomainData(data);
        let peak = 0;
        for (const v of data) peak = Math.max(peak, Math.abs(v - 128));
        bar.style.transform = `scaleX(${Math.min(1, 0.04 + peak / 64)})`;
        requestAnimationFrame(draw);
      };
      requestAnimationFrame(draw);
    } catch { /* no meter: recording still works */ }
    return meter;
  }

  function record() {
    const type = pickType(kind);
    if (type === null) {
      status.textContent = t('capture.unsupported');
      status.classList.add('error');
      setActions(cancelButton());
      return;
    }
    chunks = [];
    try {
      recorder = new MediaRecorder(stream, type ? { mimeType: type } : undefined);
    } catch {
      status.textContent = t('capture.unsupported');
      setActions(cancelButton());
      return;
    }
    recorder.ondataavailable = (e) => { if (e.data && e.data.size) chunks.push(e.data); };
    recorder.onstop = () => {
      if (destroyed) return;
      const base = (recorder.mimeType || type || (kind === 'voice' ? 'audio/webm' : 'video/webm')).split(';')[0];
      review(new Blob(chunks, { type: base }));
    };
    recorder.start(250);
    startedAt = Date.now();
    panel.classList.add('recording');
    const max = MAX_SECONDS[kind];
    const update = () => {
      const elapsed = (Date.now() - startedAt) / 1000;
      setChildren(status, h('span', { class: 'rec-dot', 'aria-hidden': 'true' }),
        h('span', { 'data-testid': 'capture-elapsed', class: 'tabular', text: clock(elapsed) }),
        h('span', { class: 'rec-max', text: ` / ${clock(max)}` }));
      touch();
      if (elapsed >= max) stopRecording();
    };
    update();
    tick = setInterval(update, 250);
    setActions(cancelButton(), button('capture.stop', 'stop', stopRecording, 'btn-primary', 'capture-stop'));
  }

  function stopRecording() {
    clearInterval(tick);
    panel.classList.remove('recording');
    if (recorder && recorder.state !== 'inactive') recorder.stop();
  }

  function takePhoto() {
    const w = live.videoWidth || 640;
    const hgt = live.videoHeight || 480;
    const canvas = h('canvas', { width: w, height: hgt });
    const g = canvas.getContext('2d');
    // The preview is mirrored like a mirror; the photo is not.
    g.drawImage(live, 0, 0, w, hgt);
    canvas.toBlob((b) => { if (b && !destroyed) review(b); }, 'image/jpeg', 0.85);
  }

  function review(result) {
    blob = result;
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = URL.createObjectURL(blob);
    let preview;
    if (kind === 'photo') preview = h('img', { class: 'capture-preview', src: previewUrl, alt: '' });
    else if (kind === 'video') preview = h('video', { class: 'capture-preview', src: previewUrl, controls: true, playsinline: true });
    else preview = h('audio', { class: 'capture-audio', src: previewUrl, controls: true });
    if (kind === 'voice') {
      // The microphone is not needed any more while reviewing.
      release();
    }
    setChildren(stage, preview);
    status.textContent = t('capture.review');
    status.classList.remove('error');
    setActions(
      cancelButton(),
      button(kind === 'photo' ? 'capture.retake' : 'capture.again', 'refresh', again, 'btn-outline', 'capture-again'),
      button('capture.send', 'send', send, 'btn-primary', 'capture-send'),
    );
  }

  function again() {
    blob = null;
    if (kind === 'voice') { start(); return; }
    setChildren(stage, live);
    if (kind === 'photo') takeReady(); else videoReady();
  }
  const takeReady = () => {
    status.textContent = t('capture.photo.ready');
    setActions(cancelButton(), button('capture.photo.take', 'camera', takePhoto, 'btn-primary', 'capture-take'));
  };
  const videoReady = () => {
    status.textContent = t('capture.video.ready');
    setActions(cancelButton(), button('capture.video.start', 'video', record, 'btn-primary', 'capture-record'));
  };

  async function send() {
    if (!blob) return;
    for (const b of actions.querySelectorAll('button')) b.disabled = true;
    status.textContent = t('capture.sending');
    try {
      await onSend(blob);
      destroyAndClose();
    } catch (err) {
      if (destroyed) return;
      status.textContent = err && err.userText ? err.userText : t('error.generic');
      status.classList.add('error');
      for (const b of actions.querySelectorAll('button')) b.disabled = false;
    }
  }

  function release() {
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
    if (audioCtx) audioCtx.close().catch(() => {});
    audioCtx = null;
  }

  function destroy() {
    if (destroyed) return;
    destroyed = true;
    clearInterval(tick);
    if (recorder && recorder.state !== 'inactive') {
      try { recorder.stop(); } catch { /* already stopped */ }
    }
    release();
    live.srcObject = null;
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    blob = null;
    chunks = [];
    panel.remove();
  }

  function destroyAndClose() {
    destroy();
    onClose();
  }

  start();
  return { destroy };
}

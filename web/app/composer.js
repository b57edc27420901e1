// The composer at the bottom of a thread: a text field, the camera, the gallery (photos
// and videos), the urgent switch (with its confirmation) and the microphone — press and
// hold to record a voice message, release to send, slide left (or the bin) to cancel.
// From a keyboard, Enter or Space on the microphone starts a recording that is then
// sent or cancelled with the buttons on screen.

import { h } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { icon } from '/common/icons.js';
import { confirmDialog, toast } from '/common/ui.js';
import { duration, unlockAudio } from './ui.js';
import { state } from './state.js';
import { shrinkPhoto } from './media.js';

const MAX_RECORDING_S = 120;
const MIN_RECORDING_S = 0.8;
const TAP_MS = 350;
const CANCEL_SLIDE_PX = 110;

const limitOf = (kind) => ({
  image: state.settings.max_image_bytes || 10 * 1024 * 1024,
  voice: state.settings.max_voice_bytes || 10 * 1024 * 1024,
  video: state.settings.max_video_bytes || 50 * 1024 * 1024,
}[kind]);

function recorderMime() {
  if (!window.MediaRecorder) return null;
  for (const m of ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/mp4', 'audio/webm']) {
    if (MediaRecorder.isTypeSupported?.(m)) return m;
  }
  return '';
}

/**
 * @param {object} opts
 * @param {(msg: {kind, text?, blob?, mime?, urgent}) => void} opts.onSend
 * @param {() => boolean} opts.canUrgent  whether this conversation offers "urgent"
 */
export function createComposer({ onSend, canUrgent }) {
  let urgent = false;
  let rec = null;
  let current = null;
  const drafts = new Map();

  const cameraInput = h('input', { type: 'file', accept: 'image/*', capture: 'environment', class: 'visually-hidden', tabindex: '-1', 'aria-hidden': 'true', 'data-testid': 'input-camera' });
  const galleryInput = h('input', { type: 'file', accept: 'image/*,video/*', class: 'visually-hidden', tabindex: '-1', 'aria-hidden': 'true', 'data-testid': 'input-gallery' });
  const cameraBtn = h('button', { type: 'button', class: 'tool-btn', 'data-testid': 'btn-camera', onclick: () => cameraInput.click() }, icon('camera'));
  const galleryBtn = h('button', { type: 'button', class: 'tool-btn', 'data-testid': 'btn-gallery', onclick: () => galleryInput.click() }, icon('image'));
  const field = h('textarea', { class: 'field-input', rows: '1', 'data-testid': 'composer-input', enterkeyhint: 'send', autocomplete: 'off' });
  const urgentBtn = h('button', { type: 'button', class: 'urgent-btn', 'data-testid': 'btn-urgent', 'aria-pressed': 'false' }, icon('urgent'));
  const sendBtn = h('button', { type: 'button', class: 'round-btn send-btn', 'data-testid': 'btn-send', hidden: true }, icon('arrowRight'));
  const micBtn = h('button', { type: 'button', class: 'round-btn mic-btn', 'data-testid': 'btn-mic' }, icon('micCapsule'));
  const urgentTag = h('span', { class: 'composer-urgent-tag', 'data-testid': 'urgent-on', hidden: true }, icon('urgent'), h('span', { class: 'urgent-tag-text' }));

  const timer = h('span', { class: 'rec-timer tabular', 'data-testid': 'rec-timer' }, '0:00');
  const levels = h('span', { class: 'rec-levels', 'aria-hidden': 'true' }, ...Array.from({ length: 10 }, () => h('i')));
  const slideHint = h('span', { class: 'rec-hint' });
  const recCancel = h('button', { type: 'button', class: 'rec-cancel', 'data-testid': 'rec-cancel', onclick: () => finish(false) }, icon('trash'));
  const recSend = h('button', { type: 'button', class: 'round-btn rec-send', 'data-testid': 'rec-send', hidden: true, onclick: () => finish(true) }, icon('arrowRight'));
  const overlay = h('div', { class: 'rec', 'data-testid': 'recording', hidden: true, role: 'status' },
    recCancel, h('span', { class: 'rec-dot', 'aria-hidden': 'true' }), timer, levels, slideHint, recSend);

  const row = h('div', { class: 'composer-row' },
    cameraBtn, galleryBtn,
    h('div', { class: 'field' }, field, urgentBtn),
    sendBtn, micBtn);
  const el = h('form', { class: 'composer', 'data-testid': 'composer', onsubmit: (e) => { e.preventDefault(); sendText(); } },
    urgentTag, row, overlay, cameraInput, galleryInput);

  // ---- labels (they follow the language) ----
  function translate() {
    cameraBtn.setAttribute('aria-label', t('composer.camera'));
    cameraBtn.title = t('composer.camera');
    galleryBtn.setAttribute('aria-label', t('composer.gallery'));
    galleryBtn.title = t('composer.gallery');
    micBtn.setAttribute('aria-label', t('composer.record'));
    micBtn.title = t('composer.record');
    sendBtn.setAttribute('aria-label', t('composer.send'));
    recCancel.setAttribute('aria-label', t('composer.record.cancel'));
    recSend.setAttribute('aria-label', t('composer.record.send'));
    field.placeholder = t(urgent ? 'composer.placeholder.urgent' : 'composer.placeholder');
    field.setAttribute('aria-label', field.placeholder);
    urgentBtn.setAttribute('aria-label', t(urgent ? 'composer.urgent.on' : 'composer.urgent.off'));
    urgentBtn.title = urgentBtn.getAttribute('aria-label');
    urgentTag.querySelector('.urgent-tag-text').textContent = t('composer.urgent');
    slideHint.textContent = t(rec?.locked ? 'composer.record.hint' : 'composer.record.slide');
  }

  // ---- text ----
  const hasText = () => field.value.trim().length > 0;
  function fit() {
    field.style.height = 'auto';
    field.style.height = `${Math.min(field.scrollHeight, 140)}px`;
    sendBtn.hidden = !hasText();
    micBtn.hidden = hasText();
  }
  field.addEventListener('input', fit);
  field.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && matchMedia('(pointer: fine)').matches) {
      e.preventDefault();
      sendText();
    }
  });
  sendBtn.addEventListener('click', sendText);

  function sendText() {
    unlockAudio();
    const text = field.value.trim();
    if (!text) return;
    onSend({ kind: 'text', text, urgent });
    field.value = '';
    fit();
    setUrgent(false);
    field.focus();
  }

  // ---- urgent ----
  async function setUrgent(on) {
    urgent = on;
    el.classList.toggle('is-urgent', on);
    urgentBtn.setAttribute('aria-pressed', String(on));
    urgentTag.hidden = !on;
    translate();
  }
  urgentBtn.addEventListener('click', async () => {
    if (urgent) return setUrgent(false);
    const ok = await confirmDialog({ title: t('urgent.title'), text: t('urgent.body'), confirm: t('urgent.confirm'), danger: true, icon: 'urgent', testid: 'urgent-dialog' });
    if (ok) setUrgent(true);
    field.focus();
  });

  // ---- pictures and videos ----
  async function takeFile(input) {
    const file = input.files?.[0];
    input.value = '';
    if (!file) return;
    unlockAudio();
    const type = file.type || '';
    const kind = type.startsWith('image/') ? 'image' : type.startsWith('video/') ? 'video' : type.startsWith('audio/') ? 'voice' : null;
    if (!kind) return toast(t('composer.unsupported'), { kind: 'error' });
    const blob = kind === 'image' ? await shrinkPhoto(file) : file;
    if (blob.size > limitOf(kind)) {
      return toast(t('composer.too_large', { mb: Math.floor(limitOf(kind) / 1024 / 1024) }), { kind: 'error' });
    }
    onSend({ kind, blob, mime: blob.type || type, urgent });
    setUrgent(false);
  }
  cameraInput.addEventListener('change', () => takeFile(cameraInput));
  galleryInput.addEventListener('change', () => takeFile(galleryInput));

  // ---- voice ----
  async function start({ locked = false } = {}) {
    if (rec) return;
    unlockAudio();
    const mine = { chunks: [], locked, started: performance.now(), recorder: null, stream: null };
    rec = mine;
    overlay.hidden = false;
    overlay.classList.toggle('locked', locked);
    overlay.classList.remove('cancelling');
    recSend.hidden = !locked;
    el.classList.add('recording');
    translate();
    timer.textContent = '0:00';
    try {
      if (!navigator.mediaDevices?.getUserMedia || recorderMime() === null) throw new Error('no recorder');
      const stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
      if (rec !== mine) {
        stream.getTracks().forEach((tr) => tr.stop());
        return;
      }
      const mime = recorderMime();
      const recorder = new MediaRecorder(stream, mime ? { mimeType: mime } : undefined);
      recorder.ondataavailable = (e) => { if (e.data && e.data.size) mine.chunks.push(e.data); };
      recorder.start(250);
      Object.assign(mine, { stream, recorder, started: performance.now() });
      meter(mine);
      mine.tick = setInterval(() => {
        const s = (performance.now() - mine.started) / 1000;
        timer.textContent = duration(s);
        if (s >= MAX_RECORDING_S) finish(true);
      }, 200);
      overlay.dataset.state = 'recording';
    } catch (err) {
      console.warn('recording failed', err);
      if (rec === mine) reset();
      toast(t('composer.record.no_mic'), { kind: 'error', ms: 6000 });
    }
  }

  function meter(mine) {
    try {
      const ac = new (window.AudioContext || window.webkitAudioContext)();
      const analyser = ac.createAnalyser();
      analyser.fftSize = 256;
      ac.createMediaStreamSource(mine.stream).connect(analyser);
      const data = new Uint8Array(analyser.frequencyBinCount);
      const bars = [...levels.children];
      const heights = bars.map(() => 0.15);
      let frame = 0;
      const draw = () => {
        if (rec !== mine) return;
        analyser.getByteTimeDomainData(data);
        let peak = 0;
        for (const v of data) peak = Math.max(peak, Math.abs(v - 128) / 128);
        if (frame++ % 4 === 0) {
          heights.shift();
          heights.push(Math.max(0.15, Math.min(1, peak * 2.2)));
          bars.forEach((b, i) => { b.style.transform = `scaleY(${heights[i]})`; });
        }
        mine.raf = requestAnimationFrame(draw);
      };
      mine.ac = ac;
      draw();
    } catch { /* the meter is a nicety */ }
  }

  function reset() {
    const mine = rec;
    rec = null;
    if (mine) {
      clearInterval(mine.tick);
      cancelAnimationFrame(mine.raf);
      mine.ac?.close().catch(() => {});
    }
    overlay.hidden = true;
    overlay.dataset.state = '';
    overlay.classList.remove('cancelling');
    el.classList.remove('recording');
    levels.querySelectorAll('i').forEach((b) => { b.style.transform = ''; });
    return mine;
  }

  async function finish(sendIt) {
    const mine = reset();
    if (!mine) return;
    const seconds = (performance.now() - mine.started) / 1000;
    if (!mine.recorder) return; // still asking for the microphone: nothing recorded
    const stopped = new Promise((resolve) => { mine.recorder.onstop = resolve; });
    if (mine.recorder.state !== 'inactive') mine.recorder.stop();
    await stopped;
    mine.stream.getTracks().forEach((tr) => tr.stop());
    if (!sendIt) return;
    if (seconds < MIN_RECORDING_S) return toast(t('composer.record.too_short'));
    const type = (mine.recorder.mimeType || 'audio/webm').split(';')[0];
    const blob = new Blob(mine.chunks, { type });
    if (!blob.size) return toast(t('composer.record.no_mic'), { kind: 'error' });
    onSend({ kind: 'voice', blob, mime: type, urgent });
    setUrgent(false);
  }

  let press = null;
  micBtn.addEventListener('pointerdown', (e) => {
    if (e.button !== 0 || rec) return;
    e.preventDefault();
    micBtn.setPointerCapture?.(e.pointerId);
    press = { id: e.pointerId, x: e.clientX, at: performance.now() };
    start();
  });
  micBtn.addEventListener('pointermove', (e) => {
    if (!press || e.pointerId !== press.id || !rec) return;
    const dx = Math.max(0, press.x - e.clientX);
    overlay.style.setProperty('--slide', `${Math.min(dx, CANCEL_SLIDE_PX)}px`);
    overlay.classList.toggle('cancelling', dx > CANCEL_SLIDE_PX * 0.6);
    slideHint.textContent = t(dx > CANCEL_SLIDE_PX * 0.6 ? 'composer.record.release' : 'composer.record.slide');
    if (dx >= CANCEL_SLIDE_PX) {
      press = null;
      finish(false);
    }
  });
  const release = (e, cancelled) => {
    if (!press || e.pointerId !== press.id) return;
    const held = performance.now() - press.at;
    press = null;
    overlay.style.removeProperty('--slide');
    if (cancelled || held < TAP_MS) {
      finish(false);
      if (!cancelled) toast(t('composer.record.hint'));
      return;
    }
    finish(!overlay.classList.contains('cancelling'));
  };
  micBtn.addEventListener('pointerup', (e) => release(e, false));
  micBtn.addEventListener('pointercancel', (e) => release(e, true));
  micBtn.addEventListener('contextmenu', (e) => e.preventDefault());
  micBtn.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' && e.key !== ' ') return;
    e.preventDefault();
    if (!rec) start({ locked: true });
  });

  translate();
  fit();

  return {
    el,
    translate,
    /** Shows the urgent switch only where it means something (a guardian writing to a child). */
    setConversation(id) {
      if (rec) finish(false);
      // Each conversation keeps its own unsent draft; urgent is always chosen afresh.
      if (current !== null) drafts.set(current, field.value);
      current = id;
      field.value = (id !== null && drafts.get(id)) || '';
      fit();
      setUrgent(false);
      urgentBtn.hidden = !canUrgent();
    },
    focus: () => field.focus(),
    get recording() { return Boolean(rec); },
  };
}

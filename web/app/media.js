// Pictures, voice and video: uploads with progress (XMLHttpRequest, so a send can be
// cancelled), downloads with the Authorization header as Blobs (the media endpoint is
// for participants only, so an <img src> without the bearer would not do), the
// full-size picture viewer, and the inline voice player.

import { api, ApiError, at } from '/common/api.js';
import { h } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { token } from './state.js';
import { icon } from '/common/icons.js';
import { openLayer } from '/common/ui.js';
import { duration } from './ui.js';

/** media id → Promise<object URL> (each file is fetched once per page load). */
const urls = new Map();
/**
 * Media files already seen are kept in the phone's Cache Storage: a file never changes
 * once stored, so it is read from there first (saving data) and shown offline too.
 */
const MEDIA_CACHE = 'doorplate-media-v1';
const CACHE_MAX_BYTES = 8 * 1024 * 1024;
const mediaPath = (id) => `/api/v1/media/${encodeURIComponent(id)}`;

async function keep(id, blob) {
  if (!window.caches || blob.size > CACHE_MAX_BYTES) return;
  try {
    const cache = await caches.open(MEDIA_CACHE);
    await cache.put(mediaPath(id), new Response(blob, { headers: { 'Content-Type': blob.type || 'application/octet-stream' } }));
  } catch { /* storage full or unavailable: only the offline copy is lost */ }
}

async function fetchMedia(id) {
  if (window.caches) {
    try {
      const hit = await (await caches.open(MEDIA_CACHE)).match(mediaPath(id));
      if (hit) return hit.blob();
    } catch { /* fall through to the network */ }
  }
  const blob = await api('GET', mediaPath(id), { token: token(), responseType: 'blob' });
  keep(id, blob);
  return blob;
}

/** An object URL for a stored media file, fetched with the bearer token. */
export function mediaUrl(id) {
  if (!urls.has(id)) {
    const p = fetchMedia(id).then((blob) => URL.createObjectURL(blob));
    p.catch(() => urls.delete(id));
    urls.set(id, p);
  }
  return urls.get(id);
}

/** Remembers a local file as the media of an uploaded id (no need to fetch our own photo back). */
export function rememberLocal(id, blob) {
  if (!urls.has(id)) urls.set(id, Promise.resolve(URL.createObjectURL(blob)));
  keep(id, blob);
}

/** Forgets every media file (logout): the object URLs and the offline copies. */
export function forgetMedia() {
  for (const p of urls.values()) p.then((u) => URL.revokeObjectURL(u)).catch(() => {});
  urls.clear();
  if (window.caches) caches.delete(MEDIA_CACHE).catch(() => {});
}

/**
 * Uploads raw bytes to `POST /api/v1/media`. `onProgress(fraction)`; returns
 * `{promise, abort}`. The promise rejects with an ApiError (status -1 when aborted).
 */
export function upload(blob, mime, onProgress = () => {}) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open('POST', at('/api/v1/media'));
    xhr.setRequestHeader('Authorization', `Bearer ${token()}`);
    xhr.setRequestHeader('Content-Type', mime);
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300 && data) {
        resolve(data);
      } else {
        const err = data?.error || {};
        reject(new ApiError(xhr.status, err.code || `http_${xhr.status}`, err.message || xhr.statusText, null, err.params));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'upload failed'));
    xhr.onabort = () => reject(new ApiError(-1, 'aborted', 'aborted'));
    xhr.send(blob);
  });
  return { promise, abort: () => xhr.abort() };
}

/**
 * Makes a large photo smaller before it is sent (longest side 2048 px, JPEG), which
 * saves the parent's data plan and the school's disk. Small files go as they are.
 */
export async function shrinkPhoto(file) {
  const LIMIT = 1_500_000;
  if (file.size <= LIMIT || !/^image\/(jpeg|png|webp)$/.test(file.type) || !window.createImageBitmap) return file;
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
    const scale = Math.min(1, 2048 / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close?.();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.86));
    return blob && blob.size < file.size ? blob : file;
  } catch {
    return file;
  }
}

// ---- viewing ----------------------------------------------------------------------------

/** Shows a picture full size over everything; a tap, Escape or the close button closes it. */
export function openLightbox(src, alt) {
  const closeBtn = h('button', { type: 'button', class: 'lightbox-close', 'aria-label': t('common.close'), 'data-testid': 'lightbox-close' }, icon('close'));
  // A tap anywhere closes it, the picture too: there is nothing else to do here.
  const box = h('div', { class: 'lightbox', role: 'dialog', 'aria-modal': 'true', 'aria-label': alt, 'data-testid': 'lightbox', onclick: () => close() },
    h('img', { src, alt, class: 'lightbox-img' }),
    closeBtn);
  const close = openLayer(box, { dismissOnPress: false });
  closeBtn.focus();
}

/**
 * A voice message player: a round play button, a progress track and the time. The
 * audio is fetched when the bubble is drawn (voice files are small).
 */
export function voicePlayer(load) {
  const audio = new Audio();
  audio.preload = 'metadata';
  const btn = h('button', { type: 'button', class: 'voice-play', 'aria-label': t('msg.play'), 'data-testid': 'voice-play' }, icon('playFilled'));
  const fill = h('span', { class: 'voice-fill' });
  const track = h('span', { class: 'voice-track', 'aria-hidden': 'true' }, fill);
  const time = h('span', { class: 'voice-time tabular' }, '0:00');
  const el = h('div', { class: 'voice', 'data-testid': 'voice' }, btn, track, time);
  let known = NaN;

  const show = () => {
    const total = Number.isFinite(audio.duration) ? audio.duration : known;
    const pos = audio.currentTime || 0;
    fill.style.width = Number.isFinite(total) && total > 0 ? `${Math.min(100, (pos / total) * 100)}%` : '0%';
    time.textContent = duration(audio.paused && pos === 0 ? total : pos);
  };
  const setPlaying = (playing) => {
    btn.replaceChildren(icon(playing ? 'pauseFilled' : 'playFilled'));
    btn.setAttribute('aria-label', t(playing ? 'msg.pause' : 'msg.play'));
    el.classList.toggle('playing', playing);
  };

  // Recordings from MediaRecorder (WebM) often report an unknown duration until played
  // through; seeking far ahead makes the browser find the real one.
  audio.addEventListener('loadedmetadata', () => {
    if (audio.duration === Infinity) {
      const fix = () => {
        audio.removeEventListener('durationchange', fix);
        known = audio.duration;
        audio.currentTime = 0;
        show();
      };
      audio.addEventListener('durationchange', fix);
      audio.currentTime = 1e7;
    } else {
      known = audio.duration;
      show();
    }
  });
  audio.addEventListener('timeupdate', show);
  audio.addEventListener('play', () => setPlaying(true));
  audio.addEventListener('pause', () => setPlaying(false));
  audio.addEventListener('ended', () => { audio.currentTime = 0; setPlaying(false); show(); });

  let ready = null;
  const ensure = () => {
    if (!ready) {
      ready = load().then((url) => { audio.src = url; el.dataset.ready = 'true'; }).catch((err) => {
        ready = null;
        el.classList.add('failed');
        throw err;
      });
    }
    return ready;
  };
  ensure().catch(() => {});
  btn.addEventListener('click', async () => {
    try {
      await ensure();
      if (audio.paused) await audio.play();
      else audio.pause();
    } catch { /* shown as failed */ }
  });
  return el;
}

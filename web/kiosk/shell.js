// The frame of a personal session (a student's messages or a teacher's tools): the
// person's name, a countdown ring for the idle timeout, and "Done", always visible.
// Any touch or key inside resets the countdown; so does every API call (`touch()`).

import { api, ApiError } from '/common/api.js';
import { h, nameSizeClass } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { icon } from '/common/icons.js';
import { avatar } from '/common/ui.js';

const RING_R = 26;
const RING_C = 2 * Math.PI * RING_R;
const WARN_SECONDS = 10;

/**
 * @param {HTMLElement} parent
 * @param {object} opts
 * @param {{display_name: string, role: string}} opts.user
 * @param {string} opts.title        e.g. "My messages" or "Teacher mode"
 * @param {number} opts.idleSeconds
 * @param {() => void} opts.onDone     "Done" was pressed
 * @param {() => void} opts.onTimeout  the countdown ran out
 * @param {() => void} [opts.onActivity]  a person touched or typed (not an API call)
 */
export function createShell(parent, { user, title, idleSeconds, onDone, onTimeout, testid, onActivity = () => {} }) {
  const idleMs = Math.max(5, idleSeconds) * 1000;
  let deadline = Date.now() + idleMs;
  let timer = null;
  let finished = false;

  const arc = document.createElementNS('http://www.w3.org/2000/svg', 'circle');
  const ring = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  ring.setAttribute('viewBox', '0 0 64 64');
  ring.setAttribute('class', 'ring-svg');
  ring.setAttribute('aria-hidden', 'true');
  const track = document.createElementNS('http://www.w3.org/2000/svg', 'circle');
  for (const c of [track, arc]) {
    c.setAttribute('cx', '32');
    c.setAttribute('cy', '32');
    c.setAttribute('r', String(RING_R));
    ring.append(c);
  }
  track.setAttribute('class', 'ring-track');
  arc.setAttribute('class', 'ring-arc');
  arc.setAttribute('stroke-dasharray', String(RING_C));

  const seconds = h('span', { class: 'ring-seconds tabular', 'data-testid': 'countdown-seconds' });
  const countdown = h('div', { class: 'countdown', 'data-testid': 'countdown', role: 'timer' }, ring, seconds);
  const hint = h('div', { class: 'countdown-hint', 'data-testid': 'countdown-hint', hidden: true, text: t('session.still_there') });

  const body = h('div', { class: 'personal-body' });
  const root = h('section', { class: 'personal', 'data-testid': testid, 'data-user-id': user.id },
    h('header', { class: 'personal-head' },
      avatar(user.display_name, { size: 'lg' }),
      h('div', { class: 'personal-who' },
        h('div', { class: 'personal-title', text: title }),
        h('div', { class: `personal-name ${nameSizeClass(user.display_name)}`.trim(), 'data-testid': 'session-name', text: user.display_name })),
      h('div', { class: 'personal-timer' }, hint, countdown),
      h('button', { type: 'button', class: 'btn btn-primary done-btn', 'data-testid': 'done', onclick: () => finish(onDone) },
        icon('check'), t('session.done'))),
    body);

  function finish(cb) {
    if (finished) return;
    finished = true;
    clearInterval(timer);
    cb();
  }

  function render() {
    const leftMs = Math.max(0, deadline - Date.now());
    const left = Math.ceil(leftMs / 1000);
    seconds.textContent = String(left);
    arc.setAttribute('stroke-dashoffset', String(RING_C * (1 - leftMs / idleMs)));
    const warn = left <= WARN_SECONDS;
    root.classList.toggle('warn', warn);
    hint.hidden = !warn;
    countdown.setAttribute('aria-label', t('session.countdown', { n: left }));
    if (leftMs <= 0) finish(onTimeout);
  }

  function touch() {
    if (finished) return;
    deadline = Date.now() + idleMs;
    render();
  }

  // Capture phase: a touch anywhere in the session counts, even on a button that stops it.
  const interact = () => {
    touch();
    if (!finished) onActivity();
  };
  root.addEventListener('pointerdown', interact, true);
  root.addEventListener('keydown', interact, true);
  root.addEventListener('input', interact, true);
  root.addEventListener('scroll', interact, true);

  parent.append(root);
  render();
  timer = setInterval(render, 250);

  return {
    root,
    body,
    touch,
    destroy() {
      finished = true;
      clearInterval(timer);
      root.remove();
    },
  };
}

const KEEP_ALIVE_MS = 10_000;

/**
 * What a student's session and teacher mode share: the shell (name, countdown, Done);
 * API calls with the session token, each resetting the idle countdown, a 401 ending the
 * session; and a keep-alive, because the server counts idle time from API calls and a
 * person reading or scrolling touches only this page.
 * @returns {{shell: object, call: Function, end: (reason: string) => void, keepAlive: () => void, ended: boolean}}
 */
export function openFrame(parent, { session, idleSeconds, title, testid, onEnd, signal }) {
  let lastCall = Date.now();
  const frame = { ended: false };
  frame.end = (reason) => {
    if (frame.ended) return;
    frame.ended = true;
    onEnd(reason);
  };
  frame.keepAlive = () => {
    if (Date.now() - lastCall > KEEP_ALIVE_MS) frame.call('GET', '/api/v1/me').catch(() => {});
  };
  frame.shell = createShell(parent, {
    user: session.user,
    title,
    idleSeconds,
    testid,
    onActivity: frame.keepAlive,
    onDone: () => frame.end('done'),
    onTimeout: () => frame.end('timeout'),
  });
  frame.call = async (method, path, opts = {}) => {
    lastCall = Date.now();
    frame.shell.touch();
    try {
      return await api(method, path, { ...opts, token: session.session_token, signal });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) frame.end('unauthorized');
      throw err;
    } finally {
      frame.shell.touch();
    }
  };
  return frame;
}

// The room's signage (R7): the top band (room, clock, current and next period) and the
// rotating notices. Pure rendering from the state the kiosk holds; no API calls here.

import { h, setChildren } from '/common/dom.js';
import { t, formatTime, formatDate } from '/common/i18n.js';
import { icon } from '/common/icons.js';

const ROTATE_MS = 12_000;
const KIND_ICON = { lesson: 'book', exam: 'pen', meeting: 'people', dorm: 'moon', activity: 'flag' };
const NOTICE_ICON = { notice: 'bell', announcement: 'megaphone', honour: 'star', showcase: 'image' };

function teacherName(teacher) {
  if (!teacher) return '';
  if (typeof teacher === 'string') return teacher;
  return teacher.display_name || teacher.name || '';
}

/** The calendar day of an instant in the zone, as a comparable key. */
function dayKey(value, zone) {
  return formatDate(value, zone, { year: 'numeric', month: '2-digit', day: '2-digit' });
}

/**
 * The day of a period that does not start today: "Tomorrow", else the weekday and date
 * ("Mon 7 Dec"); empty for today. Without it next week's slot reads like one today.
 */
export function dayOfPeriod(startsAt, zone, now) {
  const day = dayKey(startsAt, zone);
  if (!day || day === dayKey(now, zone)) return '';
  if (day === dayKey(now + 86_400_000, zone)) return t('day.tomorrow');
  return formatDate(startsAt, zone, { weekday: 'short', month: 'short', day: 'numeric' });
}

/**
 * Builds the band inside `band` and returns `update(info, zone, now)` and
 * `tick(zone, now)`; `now` is the school's clock (ms).
 */
export function createBand(band) {
  const roomName = h('div', { class: 'room-name', 'data-testid': 'room-name' });
  const roomSub = h('div', { class: 'room-sub', 'data-testid': 'room-sub' });
  const clock = h('div', { class: 'clock tabular', 'data-testid': 'clock' });
  const date = h('div', { class: 'date', 'data-testid': 'date' });
  const current = h('div', { class: 'period period-current', 'data-testid': 'current' });
  const next = h('div', { class: 'period period-next', 'data-testid': 'next' });
  const conn = h('div', { class: 'conn', 'data-testid': 'conn', 'data-state': 'connecting', role: 'status' },
    icon('wifiOff'), h('span', { class: 'conn-text' }));
  setChildren(band,
    h('div', { class: 'band-room' }, roomName, roomSub, conn),
    h('div', { class: 'band-periods' }, current, next),
    h('div', { class: 'band-clock' }, clock, date));

  function update(info, zone, now = Date.now()) {
    const room = info.room || {};
    roomName.textContent = room.name || info.doorplate?.name || '';
    const sub = [room.kind ? t(`room.kind.${room.kind}`) : '', info.doorplate?.name && info.doorplate.name !== room.name ? info.doorplate.name : '']
      .filter(Boolean).join(' · ');
    roomSub.textContent = sub;
    renderCurrent(info.current, zone);
    renderNext(info.next, zone, now);
    band.classList.toggle('exam', info.current?.kind === 'exam');
    tick(zone, now);
  }

  function renderCurrent(p, zone) {
    if (!p) {
      current.dataset.kind = 'none';
      setChildren(current, 
        h('div', { class: 'period-label' }, icon('clock'), h('span', { text: t('period.now') })),
        h('div', { class: 'period-title', 'data-testid': 'current-title', text: t('period.free') }));
      return;
    }
    current.dataset.kind = p.kind;
    const teacher = teacherName(p.teacher);
    setChildren(current, 
      h('div', { class: 'period-label' }, icon(KIND_ICON[p.kind] || 'clock'),
        h('span', { 'data-testid': 'current-kind', text: t(`kind.${p.kind}`) }),
        p.ends_at ? h('span', { class: 'until', 'data-testid': 'current-until', text: t('period.until', { time: formatTime(p.ends_at, zone) }) }) : null),
      h('div', { class: 'period-title', 'data-testid': 'current-title', text: p.title || t(`kind.${p.kind}`) }),
      teacher ? h('div', { class: 'period-teacher', 'data-testid': 'current-teacher', text: teacher }) : null,
      p.kind === 'exam' ? h('div', { class: 'exam-note', 'data-testid': 'exam-note', text: t('exam.quiet') }) : null);
  }

  function renderNext(p, zone, now) {
    next.hidden = !p;
    if (!p) return;
    const teacher = teacherName(p.teacher);
    const day = dayOfPeriod(p.starts_at, zone, now);
    setChildren(next,
      h('span', { class: 'next-label', text: t('period.next') }),
      day ? h('span', { class: 'next-day', 'data-testid': 'next-day', text: day }) : null,
      h('span', { class: 'next-time tabular', text: `${formatTime(p.starts_at, zone)}–${formatTime(p.ends_at, zone)}` }),
      h('span', { class: 'next-title', 'data-testid': 'next-title', text: p.title || t(`kind.${p.kind}`) }),
      teacher ? h('span', { class: 'next-teacher', text: teacher }) : null);
  }

  function tick(zone, at = Date.now()) {
    const now = new Date(at);
    clock.textContent = formatTime(now, zone);
    date.textContent = formatDate(now, zone, { weekday: 'long', month: 'long', day: 'numeric' });
  }

  function setConnection(state) {
    conn.dataset.state = state;
    conn.querySelector('.conn-text').textContent = state === 'connected' ? '' : t('conn.reconnecting');
  }

  return { update, tick, setConnection };
}

/** The rotating notices panel. `update(notices, room)` (re)starts the rotation. */
export function createNotices(panel, { loadImage }) {
  let notices = [];
  let index = 0;
  let timer = null;
  let signature = '';
  let roomName = '';

  function card(n) {
    const kind = NOTICE_ICON[n.kind] ? n.kind : 'notice';
    const img = n.image_url ? h('img', { class: 'notice-image', alt: '', loading: 'lazy' }) : null;
    if (img) loadImage(n.image_url).then((src) => { if (src) img.src = src; else img.remove(); });
    return h('article', { class: `notice notice-${kind}`, 'data-testid': 'notice', 'data-id': n.id },
      img,
      h('div', { class: 'notice-text' },
        h('div', { class: 'notice-kind' }, icon(NOTICE_ICON[kind]), h('span', { text: t(`notice.${kind}`) })),
        h('h3', { class: 'notice-title', text: n.title || '' }),
        n.body ? h('p', { class: 'notice-body', text: n.body }) : null));
  }

  function welcome() {
    const step = (n, key, iconName) => h('li', { class: 'step' },
      h('span', { class: 'step-n', text: String(n) }), icon(iconName), h('span', { text: t(key) }));
    return h('article', { class: 'notice notice-welcome', 'data-testid': 'welcome' },
      h('div', { class: 'notice-text' },
        h('div', { class: 'notice-kind' }, icon('home'), h('span', { text: t('welcome.kicker') })),
        h('h3', { class: 'notice-title', text: roomName ? t('welcome.title.room', { room: roomName }) : t('welcome.title') }),
        h('ol', { class: 'steps' },
          step(1, 'welcome.step1', 'login'),
          step(2, 'welcome.step2', 'card'),
          step(3, 'welcome.step3', 'logout'))));
  }

  function show() {
    const body = notices.length ? card(notices[index % notices.length]) : welcome();
    body.classList.add('enter');
    const dots = notices.length > 1
      ? h('div', { class: 'dots', 'aria-hidden': 'true' }, notices.map((_, i) => h('span', { class: i === index % notices.length ? 'dot on' : 'dot' })))
      : null;
    setChildren(panel, body, dots || '');
  }

  function update(list, room) {
    const next = Array.isArray(list) ? list : [];
    const sig = JSON.stringify(next) + room;
    roomName = room || '';
    if (sig === signature) return;
    signature = sig;
    notices = next;
    index = 0;
    clearInterval(timer);
    show();
    if (notices.length > 1) {
      timer = setInterval(() => { index += 1; show(); }, ROTATE_MS);
    }
  }

  /** Re-renders in the current language. */
  function refresh() {
    signature = '';
    update(notices, roomName);
  }

  return { update, refresh };
}

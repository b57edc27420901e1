// The first screen after login: the child card (guardians), the school's newest notices,
// the conversation list (a guardian's children first, then teachers), "new
// conversation", and the account menu.

import { api, ApiError } from '/common/api.js';
import { h } from '/common/dom.js';
import { traceText } from '/common/call.js';
import { t, compareNames } from '/common/i18n.js';
import { state, me, token, isGuardian, sortedConvs, readPref, writePref } from './state.js';
import { personAvatar, listTime, clock, openSheet } from './ui.js';
import { icon } from '/common/icons.js';
import { toast } from '/common/ui.js';
import { hasQuietHours, openQuietHours } from './quiet.js';
import { openNotifications } from './push.js';

/** "Checked in at Dormitory 3 at 21:03", or "at school" where rooms are hidden. */
export function arrivalLine(a) {
  return a.room ? t('arrival.room', { name: a.student_name, room: a.room, time: a.time })
    : t('arrival.school', { name: a.student_name, time: a.time });
}

/** "Present at Room 301 since 10:02", "At school" or "Not checked in". */
export function whereLine(child) {
  const w = child?.where;
  if (!w) return t('child.unknown');
  if (w.state === 'present') {
    if (w.room) return t('child.present_room', { room: w.room, time: clock(w.since) });
    return w.since ? t('child.present', { time: clock(w.since) }) : t('child.at_school');
  }
  if (w.state === 'at_school') return t('child.at_school');
  if (w.state === 'not_checked_in') return t('child.not_checked_in');
  return t('child.unknown');
}

function preview(conv) {
  const m = conv.last;
  if (!m) return t('preview.none');
  const body = m.kind === 'text' ? (m.text || '') : m.kind === 'call' ? traceText(m.text) : t(`preview.${m.kind}`);
  return m.sender_id === me()?.id ? t('preview.you', { text: body }) : body;
}

/**
 * @param {object} opts
 * @param {(convId: string) => void} opts.onOpen
 * @param {(peerId: string) => Promise<void>} opts.onStart  opens (or creates) the conversation with a contact
 * @param {() => void} opts.onLogout
 * @param {(pref: string) => void} opts.onLanguage
 * @param {{el: HTMLElement, draw: () => void}} opts.feed  the school's notices
 */
export function createHome({ onOpen, onStart, onLogout, onLanguage, feed }) {
  const title = h('h1', { class: 'home-title' });
  const newBtn = h('button', { type: 'button', class: 'icon-btn accent', 'data-testid': 'new-conversation', onclick: () => openContacts() }, icon('pen'));
  const meBtn = h('button', { type: 'button', class: 'me-btn', 'data-testid': 'menu', onclick: () => openMenu() });
  const header = h('header', { class: 'bar home-bar' }, meBtn, title, newBtn);
  const picker = h('div', { class: 'child-picker', role: 'tablist', 'data-testid': 'child-picker', hidden: true });
  const cardBox = h('div', { class: 'child-card-box' });
  const childrenSection = h('section', { class: 'children', hidden: true }, picker, cardBox);
  const convTitle = h('h2', { class: 'section-title' });
  const rows = h('ul', { class: 'conv-list', 'data-testid': 'conversations' });
  const empty = h('div', { class: 'list-empty', hidden: true });
  const body = h('div', { class: 'home-body' }, childrenSection, feed.el, h('section', { class: 'convs' }, convTitle, rows, empty));
  const el = h('section', { class: 'home', 'data-testid': 'home' }, header, body);
  let selectedChild = readPref('child');

  function drawChildren() {
    const kids = isGuardian() ? state.children : [];
    childrenSection.hidden = kids.length === 0;
    if (!kids.length) return;
    if (!kids.some((k) => k.id === selectedChild)) selectedChild = kids[0].id;
    picker.hidden = kids.length < 2;
    picker.setAttribute('aria-label', t('child.pick'));
    picker.replaceChildren(...kids.map((k) => h('button', {
      type: 'button', role: 'tab', class: 'pick', 'aria-selected': String(k.id === selectedChild), 'data-testid': 'pick-child',
      onclick: () => { selectedChild = k.id; writePref('child', k.id); drawChildren(); },
    }, k.display_name)));
    const child = kids.find((k) => k.id === selectedChild);
    const state_ = child.where?.state || 'unknown';
    cardBox.replaceChildren(h('article', { class: 'child-card', 'data-testid': 'child-card', dataset: { state: state_, childId: child.id } },
      personAvatar({ ...child, role: 'student' }, 'lg'),
      h('div', { class: 'child-text' },
        h('h2', { class: 'child-name' }, child.display_name),
        h('p', { class: 'child-where', 'data-testid': 'child-where' }, h('span', { class: 'where-dot', 'aria-hidden': 'true' }), h('span', { class: 'where-text' }, whereLine(child))),
        h('p', { class: 'child-unread' }, child.unread_by_child > 0 ? t('child.unread', { n: child.unread_by_child }) : t('child.all_read')),
        state.arrivals[child.id] ? h('p', { class: 'child-arrival', 'data-testid': 'child-arrival' }, icon('bell'), arrivalLine(state.arrivals[child.id])) : null),
      h('button', { type: 'button', class: 'btn btn-primary child-write', 'data-testid': 'child-write', onclick: () => onStart(child.id) }, icon('pen'), t('child.write')),
      child.arrival_notices_available ? arrivalSwitch(child) : null));
  }

  /** The guardian's choice to be told when this child checks in (off until chosen). */
  function arrivalSwitch(child) {
    const input = h('input', {
      type: 'checkbox', role: 'switch', class: 'switch-input', checked: !!child.arrival_notices, 'data-testid': 'arrival-switch',
    });
    input.onchange = async () => {
      const on = input.checked;
      input.disabled = true;
      try {
        await api('PUT', `/api/v1/children/${encodeURIComponent(child.id)}/arrival-notices`, { token: token(), body: { on } });
        child.arrival_notices = on;
        toast(t(on ? 'arrival.on' : 'arrival.off', { name: child.display_name }), { kind: 'success' });
      } catch {
        input.checked = !on;
        toast(t('error.generic'), { kind: 'error' });
      } finally {
        input.disabled = false;
      }
    };
    return h('label', { class: 'child-switch' }, input, h('span', { class: 'switch-track', 'aria-hidden': 'true' }),
      h('span', { class: 'switch-label' }, t('arrival.switch', { name: child.display_name })));
  }

  function drawConvs() {
    const list = sortedConvs();
    empty.hidden = list.length > 0;
    empty.replaceChildren(h('p', { class: 'list-empty-title' }, t('home.empty')),
      // Staff write to students and guardians (R8), never to "your child".
      h('p', { 'data-testid': 'home-empty-help' }, t(isGuardian() ? 'home.empty.help' : 'home.empty.help.staff')));
    convTitle.hidden = !(isGuardian() && state.children.length) || !list.length;
    rows.replaceChildren(...list.map((c) => {
      const unread = c.unread > 0;
      return h('li', {},
        h('button', {
          type: 'button', class: `conv${unread ? ' unread' : ''}${c.id === state.openId ? ' current' : ''}${c.last?.urgent ? ' urgent' : ''}`,
          'data-testid': 'conversation', dataset: { convId: c.id, peerId: c.peer.id }, onclick: () => onOpen(c.id),
        },
        personAvatar(c.peer),
        h('span', { class: 'conv-main' },
          h('span', { class: 'conv-top' },
            h('span', { class: 'conv-name' }, c.peer.display_name),
            h('span', { class: 'conv-role' }, t(`role.${c.peer.role}`)),
            h('time', { class: 'conv-time' }, listTime(c.last?.created_at))),
          h('span', { class: 'conv-bottom' },
            h('span', { class: 'conv-last', 'data-testid': 'conversation-last' }, preview(c)),
            unread ? h('span', { class: 'badge', 'data-testid': 'unread', 'aria-label': String(c.unread) }, c.unread > 99 ? '99+' : String(c.unread)) : null))));
    }));
  }

  function draw() {
    title.textContent = t('home.title');
    convTitle.textContent = t('home.conversations');
    newBtn.setAttribute('aria-label', t('home.new'));
    newBtn.title = t('home.new');
    meBtn.replaceChildren(personAvatar(me(), 'sm'));
    meBtn.setAttribute('aria-label', t('menu.open'));
    drawChildren();
    feed.draw();
    drawConvs();
  }

  async function openContacts() {
    const listBox = h('ul', { class: 'contact-list', 'data-testid': 'contacts' }, h('li', { class: 'muted' }, t('contacts.loading')));
    const sheet = openSheet({ title: t('contacts.title'), content: listBox, testid: 'contacts-sheet' });
    try {
      const contacts = await api('GET', '/api/v1/contacts', { token: token() });
      const order = (c) => (c.role === 'student' ? 0 : c.role === 'guardian' ? 1 : 2);
      contacts.sort((a, b) => order(a) - order(b) || compareNames(a.display_name, b.display_name));
      if (!contacts.length) {
        listBox.replaceChildren(h('li', { class: 'muted' }, t('contacts.empty')));
        return;
      }
      listBox.replaceChildren(...contacts.map((c) => h('li', {},
        h('button', {
          type: 'button', class: 'contact', 'data-testid': 'contact', dataset: { userId: c.id },
          onclick: async () => {
            try {
              await onStart(c.id);
              sheet.close();
            } catch (err) {
              toast(err instanceof ApiError && err.status === 403 ? t('contacts.not_allowed') : t('error.generic'), { kind: 'error' });
            }
          },
        }, personAvatar(c), h('span', { class: 'contact-name' }, c.display_name), h('span', { class: 'contact-role' }, t(`role.${c.role}`)), icon('chevron', 'chev')))));
    } catch (err) {
      listBox.replaceChildren(h('li', { class: 'muted' }, err?.status === 0 ? t('error.network') : t('error.generic')));
    }
  }

  function openMenu() {
    const user = me();
    const current = readPref('lang', 'auto');
    const langBtn = (pref, label) => h('button', {
      type: 'button', class: 'seg', 'aria-pressed': String(current === pref), 'data-testid': `lang-${pref}`,
      onclick: () => { sheet.close(); onLanguage(pref); },
    }, label);
    const content = h('div', { class: 'menu' },
      h('div', { class: 'menu-user' }, personAvatar(user, 'lg'),
        h('div', {}, h('p', { class: 'menu-label' }, t('menu.signed_in_as')), h('p', { class: 'menu-name' }, user.display_name),
          h('p', { class: 'menu-role' }, `${t(`role.${user.role}`)} · ${user.username || ''}`))),
      h('p', { class: 'menu-label' }, t('menu.language')),
      h('div', { class: 'segmented' }, langBtn('zh-CN', '中文'), langBtn('en', 'English'), langBtn('auto', t('menu.lang.auto'))),
      h('button', {
        type: 'button', class: 'btn btn-outline menu-push', 'data-testid': 'push-settings', onclick: () => { sheet.close(); openNotifications(); },
      }, icon('bell'), t('push.menu')),
      hasQuietHours(user) ? h('button', {
        type: 'button', class: 'btn btn-outline menu-quiet', 'data-testid': 'quiet-hours', onclick: () => { sheet.close(); openQuietHours(); },
      }, icon('moon'), t('quiet.title')) : null,
      h('button', { type: 'button', class: 'btn btn-outline menu-logout', 'data-testid': 'logout', onclick: () => { sheet.close(); onLogout(); } }, icon('logout'), t('menu.logout')));
    const sheet = openSheet({ title: t('menu.open'), content, testid: 'menu-sheet' });
  }

  return { el, draw, drawChildren, drawConvs };
}

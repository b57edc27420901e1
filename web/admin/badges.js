// The printable QR badge sheet of one class (`?group=`), or of one student (`?user=`,
// from the person panel, so a lost badge is reprinted without voiding the class's):
// A4 pages of 8 or 10 cards (name, class, QR). Issuing replaces the current badges, so
// the page asks first, issues once, and drops `issue=1` from its address so a reload
// never issues again by accident.

import { at } from '/common/api.js';
import { h, setChildren } from '/common/dom.js';
import { t, setLang, compareNames } from '/common/i18n.js';
import './strings.js';
import { icon } from '/common/icons.js';
import { session, call, errorText } from './lib.js';

const query = new URLSearchParams(location.search);
const groupId = query.get('group');
const userId = query.get('user');
/** The one student of a `?user=` sheet. */
let student = null;
const root = document.getElementById('app');
let perPage = Number(localStorage.getItem('doorplate.badges.per_page')) === 10 ? 10 : 8;
let group = null;
let badges = null;

function lang() {
  setLang(query.get('lang') || localStorage.getItem('doorplate.console.lang') || session.settings.language || 'auto');
  document.title = t('badges.title');
}

/** The server's QR image, parsed as SVG (never as HTML) and sized by CSS. */
function qrImage(markup) {
  const doc = new DOMParser().parseFromString(String(markup || ''), 'image/svg+xml');
  const el = doc.documentElement;
  if (!el || el.nodeName.toLowerCase() !== 'svg') return h('div', { class: 'qr-missing', text: '?' });
  for (const bad of el.querySelectorAll('script, foreignObject')) bad.remove();
  const node = document.importNode(el, true);
  if (!node.getAttribute('viewBox') && node.getAttribute('width') && node.getAttribute('height')) {
    node.setAttribute('viewBox', `0 0 ${parseFloat(node.getAttribute('width'))} ${parseFloat(node.getAttribute('height'))}`);
  }
  node.removeAttribute('width');
  node.removeAttribute('height');
  node.setAttribute('class', 'qr');
  node.setAttribute('role', 'img');
  return node;
}

function toolbar(...extra) {
  return h('header', { class: 'sheet-bar' },
    h('a', { class: 'btn btn-quiet', href: student ? `/admin#/people?id=${encodeURIComponent(student.id)}` : `/admin#/classes?id=${encodeURIComponent(groupId || '')}` }, icon('back'), h('span', { text: t('badges.back') })),
    h('div', { class: 'sheet-bar-title' },
      h('h1', { text: student ? t('badges.heading', { name: student.display_name }) : group ? t('badges.heading', { name: group.name }) : t('badges.title') }),
      h('p', { text: badges ? t('badges.count', { n: badges.length }) : group && !student ? t('classes.students_n', { n: group.member_ids.length }) : '' })),
    extra);
}

function renderMessage(text, action) {
  setChildren(root, toolbar(), h('div', { class: 'sheet-message card card-pad', 'data-testid': 'badges-message' },
    h('p', { text }), action || null));
}

function renderConfirm() {
  const go = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'badges-issue' }, icon('qr'), h('span', { text: t('classes.badges_go') }));
  const errors = h('p', { class: 'form-error', hidden: true });
  go.addEventListener('click', () => issue(go, errors));
  setChildren(root, toolbar(), h('div', { class: 'sheet-message card card-pad', 'data-testid': 'badges-confirm' },
    h('div', { class: 'note' }, icon('alert'), h('span', { text: student ? t('people.new_badge_text', { name: student.display_name }) : t('classes.badges_text', { n: group.member_ids.length }) })),
    errors, h('div', {}, go)));
}

async function issue(btn, errors) {
  if (btn) { btn.disabled = true; btn.classList.add('busy'); }
  try {
    if (student) {
      const { qr_token: token, qr_svg: svg } = await call('POST', `/api/v1/users/${encodeURIComponent(student.id)}/badge`);
      badges = [{ user_id: student.id, display_name: student.display_name, group: group?.name || '', qr_token: token, qr_svg: svg }];
    } else badges = await call('POST', `/api/v1/groups/${encodeURIComponent(groupId)}/badges`);
    const u = new URL(location.href);
    u.searchParams.delete('issue');
    history.replaceState(null, '', u);
    renderSheets();
  } catch (err) {
    if (errors) { errors.textContent = errorText(err); errors.hidden = false; } else renderMessage(errorText(err));
  } finally {
    if (btn) { btn.disabled = false; btn.classList.remove('busy'); }
  }
}

function renderSheets() {
  const sorted = [...badges].sort((a, b) => compareNames(a.display_name, b.display_name));
  const pages = [];
  for (let i = 0; i < sorted.length; i += perPage) pages.push(sorted.slice(i, i + perPage));
  const per = h('div', { class: 'segmented' }, [8, 10].map((n) => h('button', {
    type: 'button', class: n === perPage ? 'active' : '', 'data-testid': `per-page-${n}`,
    onclick: () => { perPage = n; localStorage.setItem('doorplate.badges.per_page', String(n)); renderSheets(); },
  }, t('badges.per_page', { n }))));
  const print = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'badges-print', onclick: () => window.print() }, icon('printer'), h('span', { text: t('badges.print') }));
  setChildren(root,
    toolbar(h('div', { class: 'sheet-bar-actions' }, per, print)),
    h('p', { class: 'sheet-hint', text: t('badges.hint') }),
    h('div', { class: `sheets per-${perPage}`, 'data-testid': 'badge-sheets' }, pages.map((cards) => h('section', { class: 'sheet' },
      cards.map((b) => h('article', { class: 'badge', 'data-testid': 'badge-card', 'data-user-id': b.user_id },
        h('div', { class: 'badge-top' }, h('span', { class: 'badge-mark' }, icon('door')), h('span', { text: t('brand') })),
        h('div', { class: 'badge-main' },
          h('div', { class: 'badge-text' },
            h('p', { class: 'badge-name', text: b.display_name }),
            h('p', { class: 'badge-class', text: b.group || group?.name || '' }),
            h('p', { class: 'badge-use', text: t('badges.use') })),
          h('div', { class: 'badge-qr' }, qrImage(b.qr_svg)))))))));
}

async function start() {
  if (!session.token) {
    lang();
    renderMessage(t('badges.signin'), h('a', { class: 'btn btn-primary', href: at('/admin') }, t('login.submit')));
    return;
  }
  try {
    session.settings = await call('GET', '/api/v1/settings').catch(() => session.settings);
    lang();
    const groups = await call('GET', '/api/v1/groups');
    if (userId) {
      student = (await call('GET', `/api/v1/users/${encodeURIComponent(userId)}`)).user;
      // The class printed on the card: the first class the student belongs to.
      group = groups.find((g) => g.member_ids.includes(userId)) || null;
    } else {
      group = groups.find((g) => g.id === groupId);
      if (!group) { renderMessage(t('badges.no_class')); return; }
    }
    if (query.get('issue') === '1') {
      renderMessage(t('badges.issuing'));
      await issue(null, null);
    } else renderConfirm();
  } catch (err) {
    lang();
    renderMessage(errorText(err), h('a', { class: 'btn btn-outline', href: at('/admin') }, t('badges.back')));
  }
}

session.onExpired = () => renderMessage(t('login.expired'), h('a', { class: 'btn btn-primary', href: at('/admin') }, t('login.submit')));
start();

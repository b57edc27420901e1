// Notices: notices, announcements, honours and class showcases for the doorplates'
// signage, and news for families. Each is for the whole school (every doorplate and
// every family), for some rooms' doorplates (signage only), or for classes (their
// families see it in the app; it may also show on some rooms' doorplates), between two
// dates, with an optional picture; a change shows on the doorplates within a second.

import { h, setChildren } from '/common/dom.js';
import { t } from '/common/i18n.js';
import { api } from '/common/api.js';
import { call, session, directory, byName, userError, today, formatDay } from '../lib.js';
import {
  pageHeader, button, field, input, textarea, select, checkbox, dialog, confirmDialog, toast,
  emptyState, loading, errorBox, segmented, chip,
} from '../ui.js';
import { icon } from '/common/icons.js';

const KINDS = ['notice', 'announcement', 'honour', 'showcase'];
const KIND_ICON = { notice: 'megaphone', announcement: 'megaphone', honour: 'star', showcase: 'image' };
const KIND_TONE = { notice: 'neutral', announcement: 'blue', honour: 'amber', showcase: 'violet' };

/** An image from the API, fetched with the bearer token (an <img> cannot send it). */
function authImage(url, alt = '') {
  const img = h('img', { alt, loading: 'lazy' });
  if (!url) return img;
  if (!url.startsWith('/api/')) { img.src = url; return img; }
  api('GET', url, { token: session.token, responseType: 'blob' })
    .then((blob) => { img.src = URL.createObjectURL(blob); })
    .catch(() => { img.replaceWith(h('div', { class: 'notice-img-missing' }, icon('image'))); });
  return img;
}

export function mount(root) {
  const state = { kind: '', list: [], rooms: [], groups: [] };
  const grid = h('div', {}, loading());
  setChildren(root,
    pageHeader(t('nav.notices'), t('notices.sub'),
      button(t('notices.new'), { kind: 'primary', iconName: 'plus', testid: 'notice-new', onclick: () => openForm({}) })),
    h('div', { class: 'filters' },
      segmented([{ value: '', label: t('people.all') }, ...KINDS.map((k) => ({ value: k, label: t(`notice.${k}`) }))], '', (v) => { state.kind = v; render(); }, 'notice-filter')),
    grid);

  async function load() {
    try {
      const [list, rooms, groups] = await Promise.all([call('GET', '/api/v1/notices'), directory.rooms(), directory.groups()]);
      state.list = list;
      state.rooms = [...rooms].sort(byName);
      state.groups = [...groups].sort(byName);
      render();
    } catch (err) {
      setChildren(grid, errorBox(err, load));
    }
  }

  function phase(n) {
    const d = today().date;
    if (n.ends_on && n.ends_on < d) return { key: 'ended', label: t('notices.ended'), tone: 'neutral' };
    if (n.starts_on && n.starts_on > d) return { key: 'scheduled', label: t('notices.scheduled'), tone: 'blue' };
    return { key: 'showing', label: t('notices.showing'), tone: 'green' };
  }

  function dates(n) {
    const f = (x) => formatDay(x, { day: 'numeric', month: 'short' });
    if (n.starts_on && n.ends_on) return t('notices.dates', { from: f(n.starts_on), to: f(n.ends_on) });
    if (n.starts_on) return t('notices.from', { from: f(n.starts_on) });
    if (n.ends_on) return t('notices.until', { to: f(n.ends_on) });
    return t('notices.always');
  }

  function targets(n) {
    if (!n.room_ids?.length && !n.group_ids?.length) return t('notices.whole_school');
    const list = (ids, from, many) => {
      const names = ids.map((id) => from.find((x) => x.id === id)?.name).filter(Boolean);
      return names.length > 3 ? t(many, { n: names.length }) : names.join(', ');
    };
    const parts = [];
    if (n.group_ids?.length) parts.push(t('notices.for_classes', { names: list(n.group_ids, state.groups, 'notices.classes_n') }));
    if (n.room_ids?.length) parts.push(list(n.room_ids, state.rooms, 'notices.rooms_n'));
    return parts.join(' · ');
  }

  function render() {
    const order = { showing: 0, scheduled: 1, ended: 2 };
    const rows = state.list.filter((n) => !state.kind || n.kind === state.kind)
      .sort((a, b) => order[phase(a).key] - order[phase(b).key] || String(b.starts_on || '').localeCompare(String(a.starts_on || '')));
    if (!rows.length) {
      setChildren(grid, h('div', { class: 'card' }, emptyState('megaphone', t('notices.none'), t('notices.none_hint'))));
      return;
    }
    setChildren(grid, h('div', { class: 'notice-grid', 'data-testid': 'notice-grid' }, rows.map((n) => {
      const p = phase(n);
      return h('article', {
        class: `notice-card kind-${n.kind} phase-${p.key}`, 'data-testid': 'notice-card', 'data-notice-id': n.id, tabindex: '0',
        onclick: () => openForm(n), onkeydown: (e) => { if (e.key === 'Enter') openForm(n); },
      },
      n.image_url ? h('div', { class: 'notice-img' }, authImage(n.image_url, n.title)) : h('div', { class: `notice-band kind-${n.kind}` }, icon(KIND_ICON[n.kind])),
      h('div', { class: 'notice-body' },
        h('div', { class: 'notice-meta' }, chip(t(`notice.${n.kind}`), KIND_TONE[n.kind]), chip(p.label, p.tone)),
        h('h3', { class: 'notice-title', text: n.title }),
        n.body ? h('p', { class: 'notice-text', text: n.body }) : null,
        h('div', { class: 'notice-foot' },
          h('span', {}, icon('rooms'), h('span', { text: targets(n) })),
          h('span', {}, icon('clock'), h('span', { text: dates(n) })))));
    })));
  }

  function openForm(n) {
    const editing = Boolean(n.id);
    const kind = select(KINDS.map((k) => ({ value: k, label: t(`notice.${k}`) })), n.kind || 'notice', { 'data-testid': 'notice-kind' });
    const title = input({ value: n.title || '', 'data-testid': 'notice-title' });
    const body = textarea({ 'data-testid': 'notice-body', rows: 4 });
    body.value = n.body || '';
    const from = input({ type: 'date', value: n.starts_on || (editing ? '' : today().date), 'data-testid': 'notice-from' });
    const until = input({ type: 'date', value: n.ends_on || '', 'data-testid': 'notice-until' });
    // Who it is for: the whole school, some rooms' doorplates, or classes (and, if
    // chosen, some rooms' doorplates as well).
    const initial = n.group_ids?.length ? 'classes' : n.room_ids?.length ? 'rooms' : 'school';
    const audience = select(['school', 'rooms', 'classes'].map((v) => ({ value: v, label: t(`notices.audience.${v}`) })), initial, { 'data-testid': 'notice-audience' });
    const roomChecks = state.rooms.map((r) => ({ r, ...checkbox(r.name, n.room_ids?.includes(r.id), { 'data-room-id': r.id }) }));
    const roomsBox = h('div', { class: 'checks rooms-checks' }, roomChecks.map((c) => c.el));
    const classChecks = state.groups.map((g) => ({ g, ...checkbox(g.name, n.group_ids?.includes(g.id), { 'data-group-id': g.id }) }));
    const classesBox = h('div', { class: 'checks classes-checks', 'data-testid': 'notice-classes' }, classChecks.map((c) => c.el));
    const audienceHint = h('p', { class: 'field-hint', 'data-testid': 'notice-audience-hint' });
    const roomsLabel = h('p', { class: 'checks-label', text: t('notices.also_rooms') });
    const sync = () => {
      const a = audience.value;
      classesBox.hidden = a !== 'classes';
      roomsBox.hidden = a === 'school';
      roomsLabel.hidden = a !== 'classes';
      audienceHint.textContent = t(`notices.audience.${a}_hint`);
    };
    audience.addEventListener('change', sync);
    sync();
    const file = input({ type: 'file', accept: 'image/*', 'data-testid': 'notice-image' });
    const preview = h('div', { class: 'image-preview' }, n.image_url ? authImage(n.image_url) : null);
    let removeImage = false;
    const removeBtn = n.image_url ? button(t('notices.remove_image'), { small: true, kind: 'quiet', iconName: 'trash', onclick: () => { removeImage = true; setChildren(preview); removeBtn.remove(); } }) : null;
    file.addEventListener('change', () => {
      const f = file.files[0];
      setChildren(preview, f ? h('img', { src: URL.createObjectURL(f), alt: '' }) : null);
    });
    const actions = [
      { label: t('common.cancel'), kind: 'quiet' },
      { label: editing ? t('common.save') : t('notices.publish'), kind: 'primary', testid: 'notice-submit', onClick: async () => {
        if (!title.value.trim()) throw userError(t('notices.need_title'));
        const a = audience.value;
        const payload = {
          kind: kind.value, title: title.value.trim(), body: body.value.trim(),
          room_ids: a === 'school' ? [] : roomChecks.filter((c) => c.box.checked).map((c) => c.r.id),
          group_ids: a === 'classes' ? classChecks.filter((c) => c.box.checked).map((c) => c.g.id) : [],
        };
        if (a === 'rooms' && !payload.room_ids.length) throw userError(t('notices.need_rooms'));
        if (a === 'classes' && !payload.group_ids.length) throw userError(t('notices.need_classes'));
        if (from.value || editing) payload.starts_on = from.value || null;
        if (until.value || editing) payload.ends_on = until.value || null;
        const f = file.files[0];
        if (f) {
          const up = await call('POST', '/api/v1/media', { raw: f, contentType: f.type || 'application/octet-stream' });
          payload.image_media_id = up.media_id;
        } else if (removeImage) payload.image_media_id = null;
        if (editing) await call('PATCH', `/api/v1/notices/${n.id}`, { body: payload });
        else await call('POST', '/api/v1/notices', { body: payload });
        toast(editing ? t('notices.saved') : t('notices.published'), { kind: 'success' });
        await load();
      } },
    ];
    if (editing) {
      actions.unshift({ label: t('common.delete'), kind: 'danger-outline', testid: 'notice-delete', onClick: async (ctx) => {
        const ok = await confirmDialog({ title: t('notices.delete_title'), text: t('notices.delete_text', { title: n.title }), confirm: t('common.delete'), danger: true });
        if (!ok) return false;
        await call('DELETE', `/api/v1/notices/${n.id}`);
        toast(t('notices.deleted'), { kind: 'success' });
        await load();
        ctx.close();
      } });
    }
    const d = dialog({
      title: editing ? t('notices.edit') : t('notices.new'), testid: 'notice-form', wide: true,
      body: h('div', { class: 'form-stack' },
        h('div', { class: 'form-grid three' }, field(t('notices.f.kind'), kind), field(t('notices.f.from'), from), field(t('notices.f.until'), until, { hint: t('notices.f.until_hint') })),
        field(t('notices.f.title'), title),
        field(t('notices.f.body'), body),
        field(t('notices.f.where'), h('div', { class: 'form-stack' }, audience, audienceHint, classesBox, roomsLabel, roomsBox)),
        field(t('notices.f.image'), h('div', { class: 'image-field' }, file, removeBtn, preview), { hint: t('notices.f.image_hint') })),
      actions,
    });
    d.el.querySelector('.dialog-actions')?.classList.add('split-actions');
  }

  load();
}


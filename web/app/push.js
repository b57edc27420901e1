// Notifications on this phone (Web Push, issue 16): the "Notify me on this phone" switch,
// the person's own "Tell me when my messages are read" (kept on the server, for all their
// devices), and the list of their notified devices, in a sheet opened from the menu. The
// browser's permission is asked only when the person turns the phone's switch on. The
// service worker (sw.js) shows what arrives; the server decides what is pushed and when.

import { api, at } from '/common/api.js';
import { h } from '/common/dom.js';
import { getLang, t } from '/common/i18n.js';
import { icon } from '/common/icons.js';
import { confirmDialog, toast } from '/common/ui.js';
import { token } from './state.js';
import { listTime, openSheet } from './ui.js';

/** Whether this browser can take push notifications at all. */
export function pushSupported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

async function registration() {
  return navigator.serviceWorker.getRegistration(at('/app/'));
}

/** This browser's push subscription (null: none, or no push here). */
async function currentSubscription() {
  if (!pushSupported()) return null;
  const reg = await registration();
  return reg ? reg.pushManager.getSubscription() : null;
}

function keyBytes(b64url) {
  const s = b64url.replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(s + '='.repeat((4 - (s.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** A name for this device from what the browser says about itself ("Android phone"). */
export function guessDeviceName() {
  const ua = navigator.userAgent || '';
  if (/iPhone/.test(ua)) return 'iPhone';
  if (/iPad/.test(ua)) return 'iPad';
  if (/Android/.test(ua)) return t('push.device.android');
  if (/Macintosh/.test(ua)) return 'Mac';
  if (/Windows/.test(ua)) return t('push.device.windows');
  return t('push.device.computer');
}

/**
 * The service worker speaks the reader's language: the app keeps its choice where the
 * worker can read it (the Cache API; a worker has no localStorage).
 */
export async function rememberLangForNotifications() {
  if (!('caches' in window)) return;
  try {
    const cache = await caches.open('doorplate-app-prefs');
    await cache.put(at('/app/prefs/lang'), new Response(getLang()));
  } catch { /* private mode: the worker falls back to the browser's language */ }
}

/** Subscribes this browser and tells the server; asks the permission first. */
async function turnOn(deviceName) {
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') {
    toast(t(permission === 'denied' ? 'push.blocked' : 'push.not_allowed'), { kind: 'error' });
    return false;
  }
  const reg = await registration();
  if (!reg) throw new Error('no service worker');
  const { public_key: key } = await api('GET', '/api/v1/push/key', { token: token() });
  let sub = await reg.pushManager.getSubscription();
  // A subscription made for another server key (another school) cannot be reused.
  if (sub) await sub.unsubscribe().catch(() => {});
  // A browser whose push service cannot be reached may never answer: give up after a while.
  sub = await Promise.race([
    reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) }),
    new Promise((_, fail) => setTimeout(() => fail(new Error('the push service did not answer')), 10_000)),
  ]);
  await api('POST', '/api/v1/push/subscriptions', { token: token(), body: { ...sub.toJSON(), device_name: deviceName } });
  await rememberLangForNotifications();
  return true;
}

/** Forgets this browser's subscription here and on the server. */
async function turnOff(list) {
  const sub = await currentSubscription();
  if (!sub) return;
  const mine = list.find((s) => s.endpoint === sub.endpoint);
  if (mine) await api('DELETE', `/api/v1/push/subscriptions/${mine.id}`, { token: token() });
  await sub.unsubscribe().catch(() => {});
}

/** At logout: the browser forgets its subscription (the server removed it already). */
export async function forgetThisDevice() {
  const sub = await currentSubscription().catch(() => null);
  if (sub) await sub.unsubscribe().catch(() => {});
}

/** Opens the notifications sheet: this phone's switch, then every notified device. */
export async function openNotifications() {
  const body = h('div', { class: 'push-form', 'data-testid': 'push-form' }, h('p', { class: 'muted' }, t('contacts.loading')));
  openSheet({ title: t('push.title'), content: body, testid: 'push-sheet' });
  await draw(body);
}

/**
 * The person's "Tell me when my messages are read" switch: saved on the server at once;
 * if that fails the switch goes back and the app says so.
 */
function receiptsSwitch(settings) {
  const input = h('input', {
    type: 'checkbox', role: 'switch', class: 'switch-input', checked: !!settings.read_receipts,
    'data-testid': 'push-read-receipts',
  });
  input.onchange = async () => {
    const on = input.checked;
    input.disabled = true;
    try {
      const saved = await api('PATCH', '/api/v1/push/settings', { token: token(), body: { read_receipts: on } });
      input.checked = !!saved.read_receipts;
      toast(t(on ? 'push.read_receipts.on' : 'push.read_receipts.off'), on ? { kind: 'success' } : {});
    } catch (err) {
      input.checked = !on;
      toast(err?.status === 0 ? t('error.network') : t('error.generic'), { kind: 'error' });
    } finally {
      input.disabled = false;
    }
  };
  return h('div', { class: 'push-option' },
    h('label', { class: 'push-receipts' }, input, h('span', { class: 'switch-track', 'aria-hidden': 'true' }),
      h('span', { class: 'switch-label' }, t('push.read_receipts'))),
    h('p', { class: 'muted push-option-help' }, t('push.read_receipts.help')));
}

async function draw(body) {
  let list;
  let sub;
  let settings;
  try {
    [list, sub, settings] = await Promise.all([
      api('GET', '/api/v1/push/subscriptions', { token: token() }).then((r) => r.subscriptions),
      currentSubscription().catch(() => null),
      api('GET', '/api/v1/push/settings', { token: token() }),
    ]);
  } catch (err) {
    body.replaceChildren(h('p', { class: 'muted' }, err?.status === 0 ? t('error.network') : t('error.generic')));
    return;
  }
  const here = sub && list.find((s) => s.endpoint === sub.endpoint);
  const supported = pushSupported();
  const name = h('input', {
    id: 'push-name', type: 'text', maxlength: '60', value: here?.device_name || guessDeviceName(),
    'data-testid': 'push-device-name',
  });
  const input = h('input', {
    type: 'checkbox', role: 'switch', class: 'switch-input', checked: !!here, disabled: !supported,
    'data-testid': 'push-switch',
  });
  input.onchange = async () => {
    input.disabled = true;
    try {
      if (input.checked) {
        const ok = await turnOn(name.value.trim() || guessDeviceName());
        if (ok) toast(t('push.on'), { kind: 'success' });
      } else {
        await turnOff(list);
        toast(t('push.off'));
      }
    } catch (err) {
      console.warn('push', err);
      toast(err?.status === 0 ? t('error.network') : t('push.failed'), { kind: 'error' });
    }
    await draw(body);
  };
  const denied = supported && Notification.permission === 'denied';
  const rows = list.map((s) => {
    const mine = here && s.id === here.id;
    const remove = h('button', {
      type: 'button', class: 'icon-btn push-remove', 'aria-label': t('push.remove', { name: s.device_name || s.service }),
      'data-testid': 'push-remove',
      onclick: async () => {
        const ok = await confirmDialog({ title: t('push.remove.title'), text: t('push.remove.confirm', { name: s.device_name || s.service }), confirm: t('push.remove.button'), testid: 'push-remove-dialog' });
        if (!ok) return;
        try {
          await api('DELETE', `/api/v1/push/subscriptions/${s.id}`, { token: token() });
          if (mine) await forgetThisDevice();
        } catch {
          toast(t('error.generic'), { kind: 'error' });
        }
        await draw(body);
      },
    }, icon('close'));
    return h('li', { class: 'push-device', 'data-testid': 'push-device' },
      h('span', { class: 'push-device-icon', 'aria-hidden': 'true' }, icon('bell')),
      h('span', { class: 'push-device-main' },
        h('span', { class: 'push-device-name' }, s.device_name || s.service,
          mine ? h('span', { class: 'push-this', 'data-testid': 'push-this' }, t('push.this_device')) : null),
        h('span', { class: 'push-device-used', 'data-testid': 'push-last-used' },
          s.last_used_at ? t('push.last_used', { when: listTime(s.last_used_at) }) : t('push.never_used'))),
      remove);
  });
  body.replaceChildren(...[
    h('p', { class: 'muted push-help' }, t('push.help')),
    h('label', { class: 'push-switch' }, input, h('span', { class: 'switch-track', 'aria-hidden': 'true' }),
      h('span', { class: 'switch-label' }, t('push.switch'))),
    here ? null : h('div', { class: 'field-group push-name-row' }, h('label', { for: 'push-name' }, t('push.device_name')), name),
    !supported ? h('p', { class: 'push-note', 'data-testid': 'push-unsupported' }, t('push.unsupported')) : null,
    denied ? h('p', { class: 'push-note', 'data-testid': 'push-denied' }, t('push.blocked')) : null,
    receiptsSwitch(settings),
    h('p', { class: 'menu-label push-list-title' }, t('push.devices')),
    rows.length ? h('ul', { class: 'push-devices', 'data-testid': 'push-devices' }, ...rows)
      : h('p', { class: 'muted', 'data-testid': 'push-none' }, t('push.none')),
  ].filter(Boolean));
}

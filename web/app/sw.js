// The family app's service worker (scope /app/, or /s/{slug}/app/ for a school addressed
// by its slug — the scripts and styles are the same files at the root paths): it keeps the app shell so the app opens
// without a network. Shell files are fetched from the network first, so an update
// reaches the phone at its next start, and from the cache when the network is away.
// API calls are never cached here: the app keeps its own copy of the guardian's
// conversations (state.js) and queues sends (send.js).
//
// It also shows Web Push notifications (push.js subscribes): the server sends who and
// what kind (a message, or for those who asked, that a message of theirs was read),
// never more than the school allows; this worker words it in the reader's language, one
// notification per conversation (`tag`: a newer one replaces it), and a tap opens that
// conversation.

importScripts('/app/strings-push.js');

// A new name whenever the shell's file list changes, so the old copy is dropped whole.
const CACHE = 'doorplate-app-v6';
/** '/s/{slug}' when this worker serves a school addressed by its slug, else ''. */
const BASE = self.location.pathname.replace(/\/app\/sw\.js$/, '');
const SHELL = [
  `${BASE}/app/`,
  '/app/app.css',
  '/app/thread.css',
  '/app/sheets.css',
  '/app/app.js',
  '/app/state.js',
  '/app/send.js',
  '/app/media.js',
  '/app/ui.js',
  '/app/strings.js',
  '/app/login.js',
  '/app/home.js',
  '/app/thread.js',
  '/app/bubble.js',
  '/app/composer.js',
  '/app/alerts.js',
  '/app/notices.js',
  '/app/push.js',
  '/app/strings-push.js',
  '/app/manifest.webmanifest',
  '/app/icons/icon.svg',
  '/app/icons/icon-192.png',
  '/app/icons/icon-512.png',
  '/common/base.css',
  '/common/api.js',
  '/common/events.js',
  '/common/i18n.js',
  '/common/dom.js',
  '/common/ui.js',
  '/common/icons.js',
  '/common/errors.js',
];

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // One missing file must not stop the rest from being kept.
    await Promise.all(SHELL.map((url) => cache.add(new Request(url, { cache: 'no-cache' })).catch(() => {})));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

function isShell(url) {
  return url.origin === self.location.origin
    && (url.pathname === `${BASE}/app` || url.pathname.startsWith(`${BASE}/app/`)
      || url.pathname.startsWith('/app/') || url.pathname.startsWith('/common/'));
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (!isShell(url)) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    // Every page of the app is the same document.
    const key = request.mode === 'navigate' ? `${BASE}/app/` : url.pathname;
    try {
      const response = await fetch(request);
      if (response.ok) await cache.put(key, response.clone());
      return response;
    } catch (err) {
      const cached = await cache.match(key);
      if (cached) return cached;
      throw err;
    }
  })());
});

// ---- notifications ----------------------------------------------------------------------

/** The reader's language: the app's choice (push.js keeps it), else the browser's. */
async function pushLang(hint) {
  try {
    const cache = await caches.open('doorplate-app-prefs');
    const kept = await cache.match(`${BASE}/app/prefs/lang`);
    if (kept) return await kept.text();
  } catch { /* no cache: fall through */ }
  if (hint === 'zh-CN' || hint === 'en') return hint;
  return (self.navigator.language || '').toLowerCase().startsWith('zh') ? 'zh-CN' : 'en';
}

function say(lang, key, vars = {}) {
  const table = self.PUSH_STRINGS[lang] || self.PUSH_STRINGS.en;
  const text = table[key] || self.PUSH_STRINGS.en[key] || key;
  return text.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? ''));
}

/** A notification's title and body from what the server sent (push/notes.rs). */
function words(note, lang) {
  switch (note.type) {
    case 'message': {
      const what = note.text || say(lang, `push.kind.${note.kind}`);
      return { title: note.from, body: note.urgent ? `${say(lang, 'push.urgent')} · ${what}` : what };
    }
    case 'alert':
      return { title: say(lang, 'push.alert.title', note), body: say(lang, 'push.alert.body', note) };
    case 'arrival':
      return { title: note.child, body: say(lang, note.room ? 'push.arrival.room' : 'push.arrival.school', note) };
    case 'notice':
      return { title: say(lang, 'push.notice.title'), body: note.title };
    case 'call':
      return { title: note.from, body: say(lang, note.video ? 'push.call.video' : 'push.call.voice') };
    case 'read':
      return { title: note.reader, body: say(lang, note.count > 1 ? 'push.read.many' : 'push.read.one', note) };
    default:
      return { title: 'Doorplate', body: say(lang, 'push.generic') };
  }
}

self.addEventListener('push', (event) => {
  event.waitUntil((async () => {
    let note = {};
    try { note = event.data ? event.data.json() : {}; } catch { note = {}; }
    const lang = await pushLang(note.lang);
    const { title, body } = words(note, lang);
    await self.registration.showNotification(title || 'Doorplate', {
      body,
      tag: note.tag || 'doorplate',
      // A replaced notification (same tag) alerts again: it is news.
      renotify: !!note.tag,
      lang,
      icon: `${BASE}/app/icons/icon-192.png`,
      badge: `${BASE}/app/icons/icon-192.png`,
      requireInteraction: note.type === 'alert' || note.type === 'call',
      data: { url: note.url || '#/' },
    });
  })());
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const work = openFromNotification(event.notification.data?.url || '');
  // A click the test suite dispatches itself is not trusted and cannot extend the event.
  try { event.waitUntil(work); } catch { /* untrusted: the work runs all the same */ }
});

/**
 * Opens the app at `hash` (`#/c/42`): an open app is told to go there (app.js; no
 * reload, its live connection stays) and brought forward, else a new window opens.
 */
async function openFromNotification(hash) {
  const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const open = windows.find((w) => {
    const path = new URL(w.url).pathname;
    return path === `${BASE}/app` || path.startsWith(`${BASE}/app/`);
  });
  if (open) {
    open.postMessage({ type: 'open', hash });
    return open.focus().catch(() => null);
  }
  return self.clients.openWindow(new URL(`${BASE}/app/${hash}`, self.location.origin).href);
}

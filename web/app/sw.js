// The family app's service worker (scope /app/, or /s/{slug}/app/ for a school addressed
// by its slug — the scripts and styles are the same files at the root paths): it keeps the app shell so the app opens
// without a network. Shell files are fetched from the network first, so an update
// reaches the phone at its next start, and from the cache when the network is away.
// API calls are never cached here: the app keeps its own copy of the guardian's
// conversations (state.js) and queues sends (send.js).

// A new name whenever the shell's file list changes, so the old copy is dropped whole.
const CACHE = 'doorplate-app-v5';
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

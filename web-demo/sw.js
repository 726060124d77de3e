// Service worker: keeps the page's own files (and the package with its wasm build) so that the
// demo works offline after the first visit. Network first: a reachable server always wins, so an
// edited file is never served stale; the kept copy answers only when the network fails.
// Model files are left alone: the package keeps those in its own Cache Storage entry.

const CACHE = 'clip-wasm-demo-page';
const scope = new URL(self.registration.scope);

function handled(request) {
  const url = new URL(request.url);
  return (
    request.method === 'GET' &&
    url.origin === scope.origin &&
    url.pathname.startsWith(scope.pathname) &&
    !url.pathname.startsWith(`${scope.pathname}models/`) &&
    !request.headers.has('range')
  );
}

// Everything the page needs, as the demo server lists it in demo-config.json (a plain static host
// has no list: then only what the page fetches later is kept).
async function precache() {
  const cache = await caches.open(CACHE);
  let files = [];
  try {
    const response = await fetch('demo-config.json', { cache: 'no-cache' });
    files = (await response.clone().json()).files ?? [];
    await cache.put('demo-config.json', response);
  } catch {
    return false;
  }
  const results = await Promise.allSettled(
    ['./', ...files].map(async (file) => {
      const response = await fetch(file, { cache: 'no-cache' });
      if (!response.ok) throw new Error(`${file}: HTTP ${response.status}`);
      await cache.put(file, response);
    }),
  );
  return results.every((result) => result.status === 'fulfilled');
}

self.addEventListener('install', (event) => {
  self.skipWaiting();
  event.waitUntil(
    precache().then(async (ok) => {
      const pages = await self.clients.matchAll({ includeUncontrolled: true });
      for (const page of pages) page.postMessage({ type: 'precached', ok });
    }),
  );
});

self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

// The page gets the network's response at once and its copy goes into the cache meanwhile: the
// page never waits on Cache Storage. When this worker put the copy first, a sample photo's fetch
// in Firefox under load sometimes never resolved (tests/browser/firefox.test.mjs with both cores
// kept busy: 4 hangs in about 180 runs before, none in 149 since).
async function networkFirst(event) {
  const { request } = event;
  try {
    const response = await fetch(request);
    if (response.ok && response.type === 'basic') {
      const copy = response.clone();
      event.waitUntil(caches.open(CACHE).then((cache) => cache.put(request, copy)));
    }
    return response;
  } catch (error) {
    // A page address with parameters (?model=...) is the same page.
    const kept = await caches.match(request, { cacheName: CACHE, ignoreSearch: request.mode === 'navigate' });
    if (kept) return kept;
    throw error;
  }
}

self.addEventListener('fetch', (event) => {
  if (handled(event.request)) event.respondWith(networkFirst(event));
});

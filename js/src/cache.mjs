// Browser download cache: the Cache API, keyed by URL. A cached file whose response carried an
// ETag is revalidated with If-None-Match (a 304 answers from the cache, a 200 replaces it); when
// the network is unreachable the cached copy is used as it is.

export const CACHE_NAME = 'clip-wasm';

const cacheAvailable = () => typeof caches === 'object' && caches !== null;

function isAbort(error, signal) {
  return signal?.aborted || error?.name === 'AbortError';
}

// Streams `response` to the caller while a copy goes into the cache; nothing is kept in JS.
// The cache write is pushed onto `writes` so the caller can wait for it.
function storeWhileReading(store, url, response, writes) {
  const [forCaller, forCache] = response.body.tee();
  const headers = new Headers(response.headers);
  const write = store.put(url, new Response(forCache, { status: 200, headers })).catch(() => {
    // A failed or cut-short download never becomes a cache entry.
  });
  writes?.push(write);
  return new Response(forCaller, { status: response.status, statusText: response.statusText, headers });
}

// fetch(url), through the cache when `useCache` is set and the Cache API exists. Cache writes
// still in progress when the response is returned are pushed onto `writes`.
export async function cachedFetch(url, { useCache, signal, writes }) {
  if (!useCache || !cacheAvailable()) return fetch(url, { signal });
  const store = await caches.open(CACHE_NAME);
  const cached = await store.match(url);
  if (cached) {
    const etag = cached.headers.get('etag');
    if (!etag) return cached;
    let fresh;
    try {
      fresh = await fetch(url, { signal, headers: { 'If-None-Match': etag } });
    } catch (error) {
      if (isAbort(error, signal)) throw error;
      return cached; // offline: the cached copy is the best there is
    }
    if (fresh.status === 304) return cached;
    if (!fresh.ok || !fresh.body) return fresh.ok ? fresh : cached;
    return storeWhileReading(store, url, fresh, writes);
  }
  const response = await fetch(url, { signal });
  if (!response.ok || !response.body) return response;
  return storeWhileReading(store, url, response, writes);
}

// Removes every file this package cached. Resolves to false where there is no Cache API (Node).
export async function clearCache() {
  if (!cacheAvailable()) return false;
  return caches.delete(CACHE_NAME);
}

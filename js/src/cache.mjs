// Download cache, keyed by URL. In browsers it is the Cache API (`caches.open('clip-wasm')`); in
// Node a folder with the same behaviour (FileStore below). A cached file whose response carried
// an ETag is revalidated with If-None-Match (a 304 answers from the cache, a 200 replaces it, a
// 404 or 410 replaces it with a record that the file is absent); when the network is unreachable
// or the server fails the cached copy is used as it is. Absence is cached too, because a load
// asks for optional files (a preprocessor config, a q8 weights file) that many models lack:
// offline, the recorded 404 stands in for the server's. Such a record is asked again whenever the
// server can be reached. A download that fails or is cut short never becomes an entry.

import { isNode } from './node.mjs';

export const CACHE_NAME = 'clip-wasm';

const cacheAvailable = () => typeof caches === 'object' && caches !== null;

function isAbort(error, signal) {
  return signal?.aborted || error?.name === 'AbortError';
}

// fetch(), with a rejection that names the URL and, where known, why: Node keeps the reason in
// `cause` (ECONNREFUSED, ENOTFOUND, ...); browsers say only "Failed to fetch", which covers no
// network, CORS and a page's Content-Security-Policy.
async function fetchExplained(url, init) {
  try {
    return await fetch(url, init);
  } catch (error) {
    if (isAbort(error, init.signal) || !(error instanceof TypeError)) throw error;
    const cause = error.cause;
    const why = cause
      ? [cause.code, cause.message].filter(Boolean).join(': ')
      : `${error.message} (no network, or the server's CORS headers or this page's Content-Security-Policy refuse the request)`;
    throw new Error(`${url} could not be fetched: ${why}`, { cause: error });
  }
}

// Node: the folder `cache` names, else $CLIP_WASM_CACHE_DIR, else $XDG_CACHE_HOME/clip-wasm,
// else ~/.cache/clip-wasm.
async function nodeCacheDir(cache) {
  if (typeof cache === 'string') return cache;
  if (process.env.CLIP_WASM_CACHE_DIR) return process.env.CLIP_WASM_CACHE_DIR;
  const { join } = await import(/* webpackIgnore: true */ 'node:path');
  const { homedir } = await import(/* webpackIgnore: true */ 'node:os');
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), CACHE_NAME);
}

// The Cache API's match/put for a folder: <sha256 of the URL>.body holds the bytes and
// <sha256>.json the URL, status and headers, each written under a temporary name and renamed
// into place, the .json last, so an entry is complete or absent. A record of a 404 or 410 has no
// .body. A cached Response carries `localPath`, so the weights can be read from the file directly.
class FileStore {
  constructor(dir, modules) {
    this.dir = dir;
    Object.assign(this, modules);
  }

  static async open(dir) {
    const [fs, path, crypto, stream] = await Promise.all([
      import(/* webpackIgnore: true */ 'node:fs'),
      import(/* webpackIgnore: true */ 'node:path'),
      import(/* webpackIgnore: true */ 'node:crypto'),
      import(/* webpackIgnore: true */ 'node:stream'),
    ]);
    await fs.promises.mkdir(dir, { recursive: true });
    return new FileStore(dir, { fs, path, crypto, stream });
  }

  #paths(url) {
    const key = this.crypto.createHash('sha256').update(url).digest('hex');
    const base = this.path.join(this.dir, key);
    return { body: `${base}.body`, meta: `${base}.json` };
  }

  async match(url) {
    const { body, meta } = this.#paths(url);
    let entry, size;
    try {
      entry = JSON.parse(await this.fs.promises.readFile(meta, 'utf8'));
      if (entry.url === url && isAbsence(entry.status)) return new Response(null, { status: entry.status });
      size = (await this.fs.promises.stat(body)).size;
    } catch {
      return undefined;
    }
    if (entry.url !== url || entry.bytes !== size) return undefined;
    const response = new Response(this.stream.Readable.toWeb(this.fs.createReadStream(body)), {
      status: 200,
      headers: { ...entry.headers, 'content-length': String(size) },
    });
    response.localPath = body;
    return response;
  }

  async put(url, response) {
    const { body, meta } = this.#paths(url);
    const suffix = `.${process.pid}.${this.crypto.randomBytes(6).toString('hex')}.tmp`;
    if (isAbsence(response.status)) {
      await this.fs.promises.writeFile(meta + suffix, JSON.stringify({ url, status: response.status }));
      await this.fs.promises.rm(body, { force: true });
      await this.fs.promises.rename(meta + suffix, meta);
      return;
    }
    try {
      await this.stream.promises.pipeline(
        this.stream.Readable.fromWeb(response.body),
        this.fs.createWriteStream(body + suffix),
      );
      const bytes = (await this.fs.promises.stat(body + suffix)).size;
      const headers = {};
      for (const name of ['etag', 'content-type', 'last-modified']) {
        const value = response.headers.get(name);
        if (value !== null) headers[name] = value;
      }
      await this.fs.promises.writeFile(meta + suffix, JSON.stringify({ url, bytes, headers }));
      await this.fs.promises.rename(body + suffix, body);
      await this.fs.promises.rename(meta + suffix, meta);
    } catch (error) {
      await Promise.all([body + suffix, meta + suffix].map((p) => this.fs.promises.rm(p, { force: true })));
      throw error;
    }
  }
}

let warnedNoCacheFolder = false;

async function openStore(cache) {
  if (cacheAvailable()) {
    // Storage can be refused (e.g. some private windows): then downloads go on without it.
    return caches.open(CACHE_NAME).catch((error) => {
      console.warn(`clip-wasm: the Cache API cannot be used (${error.message}); downloading without a cache`);
      return null;
    });
  }
  if (!isNode) return null;
  const dir = await nodeCacheDir(cache);
  try {
    return await FileStore.open(dir);
  } catch (error) {
    // A folder the caller named must work; the default one (e.g. a read-only home in a
    // container) only costs the cache: downloads go on without it.
    if (typeof cache === 'string' || process.env.CLIP_WASM_CACHE_DIR) {
      throw new Error(`cache folder ${dir} cannot be used (${error.message}); pass cache: false to load without one`, {
        cause: error,
      });
    }
    if (!warnedNoCacheFolder) {
      warnedNoCacheFolder = true;
      console.warn(`clip-wasm: the download cache ${dir} cannot be used (${error.message}); downloading without it`);
    }
    return null;
  }
}

// 404 Not Found and 410 Gone: the server says the file does not exist.
export function isAbsence(status) {
  return status === 404 || status === 410;
}

// Records that the server has no file at `url`. Failing to record it only costs a request later.
async function storeAbsence(store, url, status) {
  await store.put(url, new Response(null, { status })).catch(() => {});
}

// How far the cache's copy of a download may fall behind the reader.
const CACHE_LAG_BYTES = 32 << 20;

// body.tee(), except that the first branch (the load) waits while the second (the cache write)
// is more than `limit` bytes behind. A plain tee queues whatever the slower branch has not taken:
// Chromium's Cache API writes slower than a fast link delivers, and a renderer held 0.6-0.75 GB
// more during a first f32 load (bench/README.md). Once the cache branch is cancelled (its write
// failed) it holds nothing back; cancelling the first branch errors the second, so a cut-short
// download never becomes an entry.
export function teeBounded(body, limit = CACHE_LAG_BYTES) {
  const source = body.getReader();
  let cache = null; // the second branch's controller
  let cacheGone = false;
  let resume = null; // resolves a first-branch pull waiting for the cache branch
  let stopped = false; // the first branch was cancelled
  const wake = () => {
    resume?.();
    resume = null;
  };
  const forCache = new ReadableStream(
    {
      start(controller) {
        cache = controller;
      },
      pull: wake,
      cancel() {
        cacheGone = true;
        wake();
      },
    },
    new ByteLengthQueuingStrategy({ highWaterMark: limit }),
  );
  const forReader = new ReadableStream({
    async pull(controller) {
      while (!cacheGone && cache.desiredSize <= 0) await new Promise((resolve) => (resume = resolve));
      if (stopped) return;
      let next;
      try {
        next = await source.read();
      } catch (error) {
        if (!cacheGone) cache.error(error);
        throw error;
      }
      if (stopped) return; // cancelled while the read was pending
      if (next.done) {
        controller.close();
        if (!cacheGone) cache.close();
        return;
      }
      controller.enqueue(next.value);
      if (!cacheGone) cache.enqueue(next.value);
    },
    cancel(reason) {
      stopped = true;
      if (!cacheGone) {
        cacheGone = true;
        cache.error(reason ?? new Error('the download was cancelled'));
      }
      wake(); // a pull still waiting for the cache ends
      return source.cancel(reason);
    },
  });
  return [forReader, forCache];
}

// Streams `response` to the caller while a copy goes into the cache; nothing is kept in JS
// beyond the copy's lag (teeBounded). The cache write is pushed onto `writes` so the caller can
// wait for it.
function storeWhileReading(store, url, response, writes) {
  const [forCaller, forCache] = teeBounded(response.body);
  const headers = new Headers(response.headers);
  const write = store.put(url, new Response(forCache, { status: 200, headers })).catch(() => {
    // A failed or cut-short download never becomes a cache entry.
  });
  writes?.push(write);
  return new Response(forCaller, { status: response.status, statusText: response.statusText, headers });
}

// fetch(url), through the cache unless `cache` is false (a string: the cache folder, Node).
// Cache writes still in progress when the response is returned are pushed onto `writes`.
// With a store, the browser's HTTP cache is left out ('no-store'): the store is the one copy, and
// the HTTP cache would otherwise answer a first download with its own revalidation of an older
// copy, or keep a second copy of each file it has room for.
export async function cachedFetch(url, { cache, signal, writes }) {
  const store = cache === false ? null : await openStore(cache);
  if (!store) return fetchExplained(url, { signal });
  const cached = await store.match(url);
  if (cached) {
    const etag = cached.headers.get('etag');
    const absent = isAbsence(cached.status);
    if (!etag && !absent) return cached;
    let fresh;
    try {
      fresh = await fetchExplained(url, { signal, cache: 'no-store', headers: etag ? { 'If-None-Match': etag } : {} });
    } catch (error) {
      if (isAbort(error, signal)) throw error;
      return cached; // offline: the cached copy (or absence) is the best there is
    }
    if (fresh.status === 304) return cached;
    if (isAbsence(fresh.status)) {
      await cached.body?.cancel();
      if (!absent) await storeAbsence(store, url, fresh.status);
      return fresh;
    }
    if (!fresh.ok) return cached; // a server error: the cached copy still serves
    await cached.body?.cancel(); // replaced by the new response
    if (!fresh.body) return fresh;
    return storeWhileReading(store, url, fresh, writes);
  }
  const response = await fetchExplained(url, { signal, cache: 'no-store' });
  if (isAbsence(response.status)) await storeAbsence(store, url, response.status);
  if (!response.ok || !response.body) return response;
  return storeWhileReading(store, url, response, writes);
}

// Removes every file this package cached: the Cache API entry in browsers, the cache folder's
// entries in Node (`dir`: a folder given to load() as `cache`). Resolves to whether there was a
// cache to clear.
export async function clearCache(dir) {
  if (cacheAvailable()) return caches.delete(CACHE_NAME);
  if (!isNode) return false;
  const { promises: fs } = await import(/* webpackIgnore: true */ 'node:fs');
  const { join } = await import(/* webpackIgnore: true */ 'node:path');
  const folder = await nodeCacheDir(dir);
  let names;
  try {
    names = await fs.readdir(folder);
  } catch {
    return false;
  }
  await Promise.all(
    names.filter((n) => /^[0-9a-f]{64}\.(body|json)(\..*\.tmp)?$/.test(n)).map((n) => fs.rm(join(folder, n), { force: true })),
  );
  return true;
}

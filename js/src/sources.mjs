// Where model files come from: a base URL (Hugging Face hub layout), a local directory (Node),
// or files in memory. Each source answers read(name) (whole small files, null when absent) and
// open(name) (the weights, null when absent): {size, cancel()} and either chunks() (the file as
// an iterable of Uint8Array pieces) or readAt(view, position) and readAtSync (a local file, read
// into the memory given).

import { cachedFetch, isAbsence } from './cache.mjs';
import { hardwareThreads, isNode, nodeModule } from './node.mjs';

const CHUNK_BYTES = 4 << 20; // file reads and in-memory pieces fed to the loader

function toBytes(value, name) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === 'string') return new TextEncoder().encode(value);
  throw new TypeError(`file '${name}': expected a Uint8Array, ArrayBuffer, Blob or string`);
}

class UrlSource {
  constructor(base, { cache, signal }) {
    this.base = base.endsWith('/') ? base : `${base}/`;
    this.options = { cache, signal, writes: [] };
  }

  // Resolves once every cache write started so far has finished.
  settled() {
    return Promise.all(this.options.writes);
  }

  describe(name) {
    return new URL(name, this.base).href;
  }

  async #get(name) {
    const url = this.describe(name);
    const response = await cachedFetch(url, this.options);
    if (isAbsence(response.status)) {
      await response.body?.cancel();
      return null;
    }
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${response.statusText}`.trim());
    return response;
  }

  async read(name) {
    const response = await this.#get(name);
    return response && new Uint8Array(await response.arrayBuffer());
  }

  async open(name) {
    const response = await this.#get(name);
    if (!response) return null;
    if (response.localPath) {
      // In Node's download cache: read the file itself, straight into wasm memory.
      await response.body.cancel();
      return openLocalFile(response.localPath);
    }
    // With a content encoding the length header counts compressed bytes, not what we read.
    const length = response.headers.get('content-encoding') ? null : response.headers.get('content-length');
    const reader = response.body.getReader();
    return {
      size: length === null ? 0 : Number(length),
      async *chunks() {
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) return;
            yield value;
          }
        } finally {
          reader.releaseLock();
        }
      },
      cancel: () => reader.cancel().catch(() => {}),
    };
  }
}

class DirectorySource {
  constructor(dir) {
    this.dir = dir;
  }

  describe(name) {
    return `${this.dir.replace(/[\\/]+$/, '')}/${name}`;
  }

  settled() {
    return Promise.resolve();
  }

  async read(name) {
    const { readFile } = await import(/* webpackIgnore: true */ 'node:fs/promises');
    try {
      return new Uint8Array(await readFile(this.describe(name)));
    } catch (error) {
      return this.#absent(error);
    }
  }

  async open(name) {
    try {
      return await openLocalFile(this.describe(name));
    } catch (error) {
      return this.#absent(error);
    }
  }

  // null for a file missing from the folder; an error that says so when the folder itself is
  // missing or is not a folder (the caller's mistake, not an incomplete model).
  async #absent(error) {
    if (error.code !== 'ENOENT' && error.code !== 'ENOTDIR') throw error;
    const { stat } = await import(/* webpackIgnore: true */ 'node:fs/promises');
    const folder = await stat(this.dir).catch(() => null);
    if (!folder) throw new Error(`model folder ${this.dir} does not exist`, { cause: error });
    if (!folder.isDirectory()) throw new Error(`${this.dir} is a file, not a model folder (give the folder that holds it)`, { cause: error });
    if (error.code === 'ENOTDIR') throw error;
    return null;
  }
}

// A local file (Node), read straight into wasm memory (the loader's windows, the large tensors'
// final memory): no JS buffer, no copy. readAt(view, position) reads on Node's I/O threads, and
// `parallel` such reads may run at once: one more than there are cores (at most 4, Node's I/O
// threads), so that a read is already waiting when one ends. Each next read is started by this
// thread, which meanwhile packs weights and builds the tokenizer; with one read per core the I/O
// threads sat idle then (f32 ViT-B/32 on 2 cores, 1 / 2 threads: 352-393 / 398-462 ms per load,
// 321-340 / 369-389 with 3 reads at once). readAtSync is for small reads, where a trip through
// the I/O threads costs more than the read. Both read all of `view` unless the file ends first.
// cancel() closes the file once the reads in flight are done: they write into the module's memory.
async function openLocalFile(path) {
  const fs = await import(/* webpackIgnore: true */ 'node:fs');
  let fd = fs.openSync(path, 'r');
  const { size } = fs.fstatSync(fd);
  let inFlight = 0;
  let cancelled = false;
  const close = () => {
    if (fd !== null) fs.closeSync(fd);
    fd = null;
  };
  const closed = () => new Error('the file was closed');
  const readOnce = (view, at) =>
    new Promise((resolve, reject) => {
      fs.read(fd, view, 0, view.length, at, (error, bytes) => (error ? reject(error) : resolve(bytes)));
    });
  return {
    size,
    parallel: Math.min(4, 1 + hardwareThreads()),
    async readAt(view, position) {
      if (fd === null) throw closed();
      ++inFlight;
      try {
        let done = 0;
        while (done < view.length) {
          const n = await readOnce(view.subarray(done), position + done);
          if (n === 0) break;
          done += n;
        }
        return done;
      } finally {
        if (--inFlight === 0 && cancelled) close();
      }
    },
    readAtSync(view, position) {
      if (fd === null) throw closed();
      let done = 0;
      while (done < view.length) {
        const n = fs.readSync(fd, view, done, view.length - done, position + done);
        if (n === 0) break;
        done += n;
      }
      return done;
    },
    cancel() {
      cancelled = true;
      if (inFlight === 0) close();
    },
  };
}

class MemorySource {
  constructor(files) {
    this.files = files;
  }

  describe(name) {
    return name;
  }

  settled() {
    return Promise.resolve();
  }

  async read(name) {
    const value = this.files[name];
    if (value === undefined || value === null) return null;
    if (typeof Blob === 'function' && value instanceof Blob) return new Uint8Array(await value.arrayBuffer());
    return toBytes(value, name);
  }

  async open(name) {
    const value = this.files[name];
    if (value === undefined || value === null) return null;
    if (typeof Blob === 'function' && value instanceof Blob) {
      const reader = value.stream().getReader();
      return {
        size: value.size,
        async *chunks() {
          for (;;) {
            const { done, value: chunk } = await reader.read();
            if (done) return;
            yield chunk;
          }
        },
        cancel: () => reader.cancel().catch(() => {}),
      };
    }
    const bytes = toBytes(value, name);
    return {
      size: bytes.length,
      *chunks() {
        for (let at = 0; at < bytes.length; at += CHUNK_BYTES) yield bytes.subarray(at, at + CHUNK_BYTES);
      },
      cancel() {},
    };
  }
}

function looksLikeUrl(text) {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(text);
}

// source: a URL or URL string, a directory path (Node), or {fileName: contents}.
export function resolveSource(source, options) {
  if (source instanceof URL) {
    if (source.protocol === 'file:' && isNode) return new DirectorySource(nodeModule('url').fileURLToPath(source));
    return new UrlSource(source.href, options);
  }
  if (typeof source === 'string') {
    if (source.startsWith('file:') && isNode) return resolveSource(new URL(source), options);
    if (looksLikeUrl(source)) return new UrlSource(source, options);
    if (isNode) return new DirectorySource(source);
    return new UrlSource(new URL(source, globalThis.location?.href).href, options);
  }
  if (source !== null && typeof source === 'object' && !Array.isArray(source)) return new MemorySource(source);
  throw new TypeError('model source must be a URL, a directory path (Node) or an object of files');
}

// The first `lines` lines of the text inside a gzip file (all of it if it has fewer), with the
// platform's own decompressor, decompressing little past them: CLIP reads the first 48895 lines
// of OpenAI's 262146-line BPE file (0.52 MB of its 3.2), which take 6-10 ms where all of it took
// 16 ms of CPU while a model loads (Node 20, this project's machine).
export async function gunzipLines(bytes, lines) {
  // Given the text's pieces in order, the end of the `lines`-th line in the piece that holds it,
  // else -1.
  const lineEnds = () => {
    let seen = 0;
    return (piece) => {
      for (let at = piece.indexOf(10); at !== -1; at = piece.indexOf(10, at + 1)) if (++seen === lines) return at + 1;
      return -1;
    };
  };
  if (isNode) {
    // A growing prefix of the file, decompressed as far as it goes (a sync flush at its end
    // instead of an error), on Node's I/O threads.
    const zlib = await import(/* webpackIgnore: true */ 'node:zlib');
    for (let take = Math.min(bytes.length, 1 << 18); ; take = Math.min(bytes.length, take * 2)) {
      const options = take < bytes.length ? { finishFlush: zlib.constants.Z_SYNC_FLUSH } : {};
      const out = await new Promise((resolve, reject) =>
        zlib.gunzip(bytes.subarray(0, take), options, (error, result) => (error ? reject(error) : resolve(result))),
      );
      const end = lineEnds()(out);
      if (end !== -1 || take === bytes.length) {
        return new Uint8Array(out.buffer, out.byteOffset, end === -1 ? out.length : end);
      }
    }
  }
  // Browsers: the stream is fed in pieces and dropped once the lines are out.
  const stream = new DecompressionStream('gzip');
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const feeding = (async () => {
    for (let at = 0; at < bytes.length; at += 1 << 16) await writer.write(bytes.subarray(at, at + (1 << 16)));
    await writer.close();
  })();
  feeding.catch(() => {}); // its error also fails the reads
  const chunks = [];
  let total = 0;
  const endIn = lineEnds();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const end = endIn(value);
      chunks.push(end === -1 ? value : value.subarray(0, end));
      total += chunks[chunks.length - 1].length;
      if (end !== -1) break;
    }
  } finally {
    reader.cancel().catch(() => {});
    writer.abort().catch(() => {});
  }
  const text = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    text.set(chunk, at);
    at += chunk.length;
  }
  return text;
}

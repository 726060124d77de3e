// createWorkerClip(): the Clip API with the model in a Worker, so the calling thread (a page's
// main thread) never blocks on inference. Every method returns a promise, as Clip's do.

const isNode = typeof process === 'object' && process.versions != null && process.versions.node != null;
const has = (name) => typeof globalThis[name] === 'function';

// Inputs that cannot cross to a worker as they are become ImageBitmaps (which can).
async function portable(input) {
  if (Array.isArray(input)) return Promise.all(input.map(portable));
  const needsBitmap =
    (has('HTMLImageElement') && input instanceof HTMLImageElement) ||
    (has('HTMLCanvasElement') && input instanceof HTMLCanvasElement) ||
    (has('HTMLVideoElement') && input instanceof HTMLVideoElement) ||
    (has('SVGImageElement') && input instanceof SVGImageElement) ||
    (has('OffscreenCanvas') && input instanceof OffscreenCanvas);
  return needsBitmap ? createImageBitmap(input) : input;
}

async function spawn() {
  const url = new URL('./worker.mjs', import.meta.url);
  if (!isNode) return new Worker(url, { type: 'module' });
  const { Worker: NodeWorker } = await import('node:worker_threads');
  return new NodeWorker(url);
}

export class WorkerClip {
  #worker;
  #pending = new Map(); // id -> {resolve, reject}
  #nextId = 1;
  #onProgress = null;
  #info = null;
  #closed = false;

  /** @internal Use createWorkerClip(). */
  constructor(worker) {
    this.#worker = worker;
    const onMessage = (data) => this.#receive(data);
    const onError = (error) => this.#failAll(error instanceof Error ? error : new Error(error?.message ?? 'worker failed'));
    if (isNode) {
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', () => this.#failAll(new Error('the worker exited')));
      worker.unref(); // an idle worker does not keep Node running; see #call
    } else {
      worker.onmessage = (event) => onMessage(event.data);
      worker.onerror = (event) => onError(new Error(event.message || 'worker failed'));
    }
  }

  get info() {
    return this.#info;
  }

  #receive({ id, result, error, progress }) {
    if (progress) {
      this.#onProgress?.(progress);
      return;
    }
    const call = this.#pending.get(id);
    if (!call) return;
    this.#pending.delete(id);
    if (isNode && this.#pending.size === 0) this.#worker.unref();
    if (error) {
      const e = new Error(error.message);
      if (error.name && error.name !== 'Error') e.name = error.name;
      call.reject(e);
    } else {
      call.resolve(result);
    }
  }

  #failAll(error) {
    this.#closed = true;
    for (const call of this.#pending.values()) call.reject(error);
    this.#pending.clear();
  }

  async #call(method, args) {
    if (this.#closed) throw new Error(`${method}: this Clip was disposed`);
    const id = this.#nextId++;
    const portableArgs = await Promise.all(args.map(portable));
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      if (isNode) this.#worker.ref();
      this.#worker.postMessage({ id, method, args: portableArgs });
    });
  }

  /** @internal */
  async _load(source, options) {
    const { onProgress, signal, ...rest } = options;
    this.#onProgress = onProgress ?? null;
    const abort = () => this.#worker.postMessage({ method: 'abort', args: [signal.reason] });
    signal?.throwIfAborted();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      this.#info = await this.#call('load', [source instanceof URL ? source.href : source, rest]);
    } finally {
      signal?.removeEventListener('abort', abort);
      this.#onProgress = null;
    }
  }

  /** As Clip.ready: resolves once every weight is in, with the final info. */
  get ready() {
    return this.#call('ready', []).then((info) => {
      this.#info = info;
    });
  }

  embedImage(input) {
    return this.#call('embedImage', [input]);
  }

  embedText(text) {
    return this.#call('embedText', [text]);
  }

  tokenize(text) {
    return this.#call('tokenize', [text]);
  }

  classify(image, labels, options = {}) {
    return this.#call('classify', [image, labels, options]);
  }

  similarity(a, b) {
    return this.#call('similarity', [a, b]);
  }

  memory() {
    return this.#call('memory', []);
  }

  /** Frees the model and ends the worker once queued calls finish. */
  async dispose() {
    if (this.#closed) return;
    try {
      await this.#call('dispose', []);
    } finally {
      this.#closed = true;
      await this.#worker.terminate();
    }
  }
}

/**
 * load() in a Worker: same source and options, same methods, all answered from the worker.
 */
export async function createWorkerClip(source, options = {}) {
  const clip = new WorkerClip(await spawn());
  try {
    await clip._load(source, options);
  } catch (error) {
    await clip.dispose().catch(() => {});
    throw error;
  }
  return clip;
}

// createWorkerClip(): the Clip API with the model in a Worker, so the calling thread (a page's
// main thread) never blocks on inference. Every method returns a promise, as Clip's do.

import { LOAD_OPTIONS, checkOptions } from './clip.mjs';
import { isNode } from './node.mjs';

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

function kind(value) {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return value.constructor?.name ?? 'object';
}

// The error for a message that could not be cloned: which argument, when it can be told.
function unsendable(method, args, error) {
  const clones = (arg) => {
    try {
      structuredClone(arg);
      return true;
    } catch {
      return false;
    }
  };
  const i = typeof structuredClone === 'function' ? args.findIndex((arg) => !clones(arg)) : -1;
  const which = i === -1 ? 'an argument' : `argument ${i + 1} (${kind(args[i])})`;
  return new TypeError(`${method}: ${which} cannot be sent to the worker: ${error?.message ?? error}`, { cause: error });
}

// A URL as the caller means it: a relative one against the page, not against the worker's own
// script (which a bundler may have put elsewhere). Node's paths are the same in its workers.
function resolvedHere(source) {
  if (source instanceof URL) return source.href;
  if (typeof source === 'string' && !isNode && globalThis.location) return new URL(source, globalThis.location.href).href;
  return source;
}

// `new Worker(new URL('./worker.mjs', import.meta.url), {type: 'module'})` in one expression: the
// form bundlers recognize, build as a worker of its own and rewrite.
async function spawn() {
  if (!isNode) return new Worker(new URL('./worker.mjs', import.meta.url), { type: 'module' });
  const { Worker: NodeWorker } = await import(/* webpackIgnore: true */ 'node:worker_threads');
  return new NodeWorker(new URL('./worker.mjs', import.meta.url));
}

// Firefox with WebDriver BiDi automation attached (puppeteer, Selenium): a worker's `new Worker()`
// (the module's threads, made in the model's worker) now and then never returns: 6 and 11 of 500
// loads at 2 threads in two runs with puppeteer attached, none of 500 twice without it
// (bench/browser/worker-stalls.mjs --raw). A worker silent for 10 s between 'creating' and
// 'created' (runtime.mjs, onThreadCreation) is replaced and its calls sent again, at most twice:
// 500 of 500 completed, twice.
const THREAD_CREATION_LIMIT_MS = 10_000;
const WORKER_REPLACEMENTS = 2;

export class WorkerClip {
  #worker;
  #detach; // removes this object's listeners from #worker
  #spawn;
  #creationLimitMs;
  #creationTimer = null;
  #replacements = 0;
  #loadAbort = null; // the abort message of the load, once its signal fired
  #pending = new Map(); // id -> {resolve, reject, message}
  #nextId = 1;
  #onProgress = null;
  #info = null;
  #ended = null; // the Error the worker ended with
  #disposed = false; // dispose() was called: later calls reject
  #disposal = null;
  #posting = Promise.resolve(); // settles once the latest call's message is out
  #readiness = null; // asked for right after the load, as Clip keeps its own

  /**
   * @internal Use createWorkerClip(). respawn() makes a replacement worker; creationLimitMs is
   * how long one may take to construct its threads.
   */
  constructor(worker, respawn = spawn, creationLimitMs = THREAD_CREATION_LIMIT_MS) {
    this.#spawn = respawn;
    this.#creationLimitMs = creationLimitMs;
    this.#attach(worker);
  }

  #attach(worker) {
    this.#worker = worker;
    const onMessage = (data) => this.#receive(data);
    const onError = (error) => this.#failAll(error instanceof Error ? error : new Error(error?.message ?? 'worker failed'));
    if (isNode) {
      const onExit = () => this.#failAll(new Error('the worker exited'));
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      if (this.#pending.size === 0) worker.unref(); // an idle worker does not keep Node running; see #post
      this.#detach = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
    } else {
      worker.onmessage = (event) => onMessage(event.data);
      worker.onerror = (event) => onError(new Error(event.message || 'worker failed'));
      this.#detach = () => {
        worker.onmessage = null;
        worker.onerror = null;
      };
    }
  }

  #watchThreadCreation(stage) {
    clearTimeout(this.#creationTimer);
    this.#creationTimer = null;
    if (stage !== 'creating') return;
    this.#creationTimer = setTimeout(() => this.#replaceWorker(), this.#creationLimitMs);
  }

  // The worker is stuck constructing its threads: a new one gets the calls not answered yet (a
  // dispose() among them included), in their order, and the load's abort if it came.
  async #replaceWorker() {
    this.#creationTimer = null;
    this.#detach();
    this.#worker.terminate();
    if (this.#replacements === WORKER_REPLACEMENTS) {
      this.#failAll(new Error(`the worker did not start its threads within ${this.#creationLimitMs} ms, ${WORKER_REPLACEMENTS + 1} times`));
      return;
    }
    this.#replacements += 1;
    let worker;
    try {
      worker = await this.#spawn();
    } catch (error) {
      this.#failAll(error);
      return;
    }
    this.#attach(worker);
    if (isNode && this.#pending.size > 0) worker.ref();
    for (const { message } of this.#pending.values()) worker.postMessage(message);
    if (this.#loadAbort) worker.postMessage(this.#loadAbort);
  }

  get info() {
    return this.#info;
  }

  #receive({ id, result, error, progress, threads }) {
    if (progress) {
      this.#onProgress?.(progress);
      return;
    }
    if (threads) {
      this.#watchThreadCreation(threads);
      return;
    }
    const call = this.#pending.get(id);
    if (!call) return;
    this.#pending.delete(id);
    if (isNode && this.#pending.size === 0) this.#worker.unref();
    if (error) {
      // The classes callers test for come back as themselves; others keep their name.
      const Class = { TypeError, RangeError }[error.name] ?? Error;
      const e = new Class(error.message);
      if (error.name && e.name !== error.name) e.name = error.name;
      call.reject(e);
    } else {
      call.resolve(result);
    }
  }

  #failAll(error) {
    clearTimeout(this.#creationTimer);
    this.#ended ??= error;
    for (const call of this.#pending.values()) call.reject(error);
    this.#pending.clear();
  }

  // Messages go out in call order, each once its inputs are converted (an element becomes an
  // ImageBitmap, which takes a while) and the message before it is out: so a dispose() goes out
  // after the calls made before it, which the worker then answers first.
  #call(method, args) {
    if (this.#disposed) return Promise.reject(new Error(`${method}: this Clip was disposed`));
    if (this.#ended) return Promise.reject(new Error(`${method}: ${this.#ended.message}`));
    const converted = Promise.all(args.map(portable));
    converted.catch(() => {}); // handled below, once the message before this one is out
    return new Promise((resolve, reject) => {
      this.#posting = this.#posting
        .then(() => converted)
        .then((portableArgs) => this.#post(method, portableArgs, resolve, reject), reject);
    });
  }

  #post(method, args, resolve, reject) {
    if (this.#ended) {
      reject(new Error(`${method}: ${this.#ended.message}`));
      return;
    }
    const id = this.#nextId++;
    const message = { id, method, args };
    this.#pending.set(id, { resolve, reject, message });
    if (isNode) this.#worker.ref();
    try {
      this.#worker.postMessage(message);
    } catch (error) {
      // An argument that cannot be cloned (a function, a symbol) never reaches the worker: the
      // call ends here, and must not leave the worker keeping Node running.
      this.#pending.delete(id);
      if (isNode && this.#pending.size === 0) this.#worker.unref();
      reject(unsendable(method, args, error));
    }
  }

  /** @internal */
  async _load(source, options) {
    const { onProgress, signal, ...rest } = checkOptions(options, LOAD_OPTIONS, 'createWorkerClip');
    this.#onProgress = onProgress ?? null;
    const abort = () => {
      this.#loadAbort = { method: 'abort', args: [signal.reason] };
      this.#worker.postMessage(this.#loadAbort);
    };
    signal?.throwIfAborted();
    signal?.addEventListener('abort', abort, { once: true });
    try {
      this.#info = await this.#call('load', [resolvedHere(source), rest]);
    } catch (error) {
      // An aborted load rejects with the signal's own reason, as load() does: the worker's copy
      // can lose its class (Node clones a DOMException as a plain object).
      throw signal?.aborted ? signal.reason : error;
    } finally {
      signal?.removeEventListener('abort', abort);
      this.#onProgress = null;
      this.#loadAbort = null;
    }
    this.#readiness = this.#call('ready', []).then((info) => {
      this.#info = info;
    });
    this.#readiness.catch(() => {}); // the error reaches whoever reads `ready`
  }

  /** As Clip.ready: resolves once every weight is in (info is then final), also after dispose(). */
  get ready() {
    return this.#readiness;
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

  classify(image, labels, options) {
    return this.#call('classify', [image, labels, options]);
  }

  similarity(a, b) {
    return this.#call('similarity', [a, b]);
  }

  /** As Clip.memory(): zeros once the model is disposed. */
  memory() {
    if (this.#disposed || this.#ended) return Promise.resolve({ heapBytes: 0, usedBytes: 0 });
    return this.#call('memory', []);
  }

  /** Frees the model and ends the worker once the calls made before it finish. */
  dispose() {
    if (!this.#disposal) {
      const disposed = this.#ended ? Promise.resolve() : this.#call('dispose', []);
      this.#disposed = true;
      this.#disposal = disposed.finally(() => this.#worker.terminate()).then(() => {});
    }
    return this.#disposal;
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

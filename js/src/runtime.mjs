// Creates instances of the WebAssembly module. Two builds ship in dist/: SIMD + threads
// (clip-wasm-threads) and SIMD on one thread (clip-wasm-simd); the choice is made here so that
// users never pass a flag. Where the engine has relaxed SIMD, the module's relaxed multiply-adds
// are patched in before it is compiled and its GEMM kernels switched to them (see
// tools/wasm-relaxed-opcodes.py). The compiled WebAssembly.Module is cached per build and shared by
// every instance; each loaded model gets its own instance (its own memory and worker threads),
// so dispose() returns all of it.

import { GEMM_ROWS, RELAXED_SIMD_FASTER } from './engine.mjs';
import { hardwareThreads, isNode, nodeModules } from './node.mjs';
import { patchRelaxedMadd, relaxedSimdAvailable, withRelaxedSimdFlag } from './relaxed-simd.mjs';

export { nodeModules }; // awaited before chooseBuild()

const compiled = new Map(); // build name (+relaxed) -> Promise<WebAssembly.Module>

// The smallest module that uses a SIMD128 instruction (i8x16.splat + drop).
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 10, 9, 1, 7, 0, 65, 0, 253, 15, 26, 11,
]);

// Threads can run where SharedArrayBuffer exists: in Node always, in a browser only on a
// cross-origin isolated page (COOP: same-origin + COEP: require-corp).
export function threadsAvailable() {
  if (typeof SharedArrayBuffer !== 'function') return false;
  return isNode || globalThis.crossOriginIsolated === true;
}

// Picks the build, thread count and kernels for a requested `threads` and `relaxedSimd`
// (undefined = automatic): relaxed-SIMD kernels where the engine has them, unless `relaxedSimd` is
// false, or undefined where they are the slower ones.
export function chooseBuild(threads, relaxedSimd) {
  if (relaxedSimd !== undefined && typeof relaxedSimd !== 'boolean') {
    throw new TypeError(`relaxedSimd must be true or false, got ${relaxedSimd}`);
  }
  const relaxed = relaxedSimd ?? RELAXED_SIMD_FASTER;
  return { ...chooseThreads(threads), relaxedSimd: relaxed && relaxedSimdAvailable() };
}

function chooseThreads(threads) {
  if (threads !== undefined && (!Number.isInteger(threads) || threads < 1)) {
    const given = typeof threads === 'string' ? `the string '${threads}'` : String(threads);
    throw new Error(`threads must be a whole number >= 1, got ${given}`);
  }
  const wanted = threads ?? Math.max(1, Math.min(hardwareThreads(), 8));
  if (wanted === 1) return { build: 'clip-wasm-simd', threads: 1 };
  if (!threadsAvailable()) {
    if (threads !== undefined) {
      console.warn(
        `clip-wasm: ${threads} threads asked, but this page is not crossOriginIsolated ` +
          '(serve it with Cross-Origin-Opener-Policy: same-origin and ' +
          'Cross-Origin-Embedder-Policy: require-corp); running on one thread.',
      );
    }
    return { build: 'clip-wasm-simd', threads: 1 };
  }
  return { build: 'clip-wasm-threads', threads: wanted };
}

// The files of each build, each as a literal `new URL('...', import.meta.url)`: the form bundlers
// (Vite, webpack 5) recognize, emit as an asset and rewrite to where it ends up.
const FILES = {
  'clip-wasm-threads': {
    wasm: new URL('../dist/clip-wasm-threads.wasm', import.meta.url),
    glue: new URL('../dist/clip-wasm-threads.mjs', import.meta.url),
    worker: new URL('../dist/clip-wasm-threads.worker.js', import.meta.url),
  },
  'clip-wasm-simd': {
    wasm: new URL('../dist/clip-wasm-simd.wasm', import.meta.url),
    glue: new URL('../dist/clip-wasm-simd.mjs', import.meta.url),
  },
};

// The URL a page starts the pthread workers from, where the glue would not find the script
// itself: its own lookup (the script beside the glue, under its build name) holds where the files
// are served as built, and dev servers rewrite it; a bundler that renamed or inlined them (Vite
// does both) leaves it pointing nowhere. A worker started from a data: URL, as an inlined script
// is, has an opaque origin that cannot import the glue: it starts from a blob: URL instead.
let pthreadBlobUrl = null; // made once, for every instance
async function pthreadScriptUrl({ glue, worker }) {
  if (!worker || isNode) return null;
  if (new URL('clip-wasm-threads.worker.js', glue).href === worker.href) return null;
  if (worker.protocol !== 'data:') return worker.href;
  pthreadBlobUrl ??= fetch(worker)
    .then((response) => response.blob())
    .then((blob) => URL.createObjectURL(blob));
  return pthreadBlobUrl;
}

async function compile(build, relaxedSimd) {
  if (!WebAssembly.validate(SIMD_PROBE)) {
    throw new Error('clip-wasm needs WebAssembly SIMD (Chrome 91+, Firefox 89+, Safari 16.4+, Node 20.16+)');
  }
  const url = FILES[build].wasm;
  let bytes;
  if (isNode) {
    const { readFile } = await import(/* webpackIgnore: true */ 'node:fs/promises');
    bytes = await readFile(url);
  } else {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`could not fetch ${url}: HTTP ${response.status}`);
    if (!relaxedSimd && WebAssembly.compileStreaming && response.headers.get('content-type') === 'application/wasm') {
      return WebAssembly.compileStreaming(response);
    }
    bytes = new Uint8Array(await response.arrayBuffer());
  }
  if (!relaxedSimd) return WebAssembly.compile(bytes);
  const patched = patchRelaxedMadd(bytes);
  return withRelaxedSimdFlag(() => WebAssembly.compile(patched));
}

function compiledModule(build, relaxedSimd) {
  const key = `${build}${relaxedSimd ? '+relaxed' : ''}`;
  if (!compiled.has(key)) {
    const promise = compile(build, relaxedSimd);
    promise.catch(() => compiled.delete(key)); // a failed compile may be retried
    compiled.set(key, promise);
  }
  return compiled.get(key);
}

// Called with 'creating' just before a module instance constructs its worker threads and with
// 'created' just after: worker.mjs tells the page, which replaces a worker stuck in between
// (worker-client.mjs).
let threadCreationListener = null;
export function onThreadCreation(listener) {
  threadCreationListener = listener;
}

// Returns a ready module instance of `build` whose pool holds threads - 1 workers (the calling
// thread is the last one), with relaxed-SIMD kernels if asked and the GEMM tile height this
// engine runs fastest. The workers may still be loading the module: instance.threadsLoaded()
// tells when they have (wasm/post.js).
export async function createInstance(build, threads, relaxedSimd = false) {
  await nodeModules();
  const files = FILES[build];
  const [wasmModule, glue, worker] = await Promise.all([
    compiledModule(build, relaxedSimd),
    import(/* @vite-ignore */ /* webpackIgnore: true */ files.glue.href),
    pthreadScriptUrl(files),
  ]);
  threadCreationListener?.('creating');
  let starting;
  try {
    starting = glue.default({
      clipPoolSize: threads - 1,
      mainScriptUrlOrBlob: files.glue.href,
      ...(worker && { locateFile: (path, prefix) => (path.endsWith('.worker.js') ? worker : prefix + path) }),
      instantiateWasm(imports, receive) {
        WebAssembly.instantiate(wasmModule, imports).then((wasm) => receive(wasm, wasmModule));
        return {};
      },
      print: (text) => console.log(text),
      printErr: (text) => console.warn(text),
    });
  } finally {
    threadCreationListener?.('created'); // the glue constructs its workers before it returns
  }
  const instance = await starting;
  // Idle workers must not keep Node running, but loading ones must: until they have loaded, a
  // load() waits for them and nothing else may be pending.
  instance.threadsLoaded().then(() => instance.unrefThreads(), () => {});
  instance.setGemmRows(GEMM_ROWS);
  if (relaxedSimd && !instance.enableRelaxedSimd()) {
    instance.endThreads();
    throw new Error('clip-wasm: the relaxed SIMD kernels failed their check in this engine; load with relaxedSimd: false');
  }
  return instance;
}

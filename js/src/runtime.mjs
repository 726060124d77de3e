// Creates instances of the WebAssembly module. Two builds ship in dist/: SIMD + threads
// (clip-wasm-threads) and SIMD on one thread (clip-wasm-simd); the choice is made here so that
// users never pass a flag. Where the engine has relaxed SIMD, the module's relaxed multiply-adds
// are patched in before it is compiled and its GEMM kernels switched to them (see
// tools/wasm-relaxed-opcodes.py). The compiled WebAssembly.Module is cached per build and shared by
// every instance; each loaded model gets its own instance (its own memory and worker threads),
// so dispose() returns all of it.

import { patchRelaxedMadd, relaxedSimdAvailable, withRelaxedSimdFlag } from './relaxed-simd.mjs';

const isNode = typeof process === 'object' && process.versions != null && process.versions.node != null;

const os = isNode ? await import('node:os') : null;

const compiled = new Map(); // build name (+relaxed) -> Promise<WebAssembly.Module>

// The smallest module that uses a SIMD128 instruction (i8x16.splat + drop).
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 10, 9, 1, 7, 0, 65, 0, 253, 15, 26, 11,
]);

export function hardwareThreads() {
  if (os) return os.availableParallelism?.() ?? os.cpus().length;
  return globalThis.navigator?.hardwareConcurrency ?? 1;
}

// Threads can run where SharedArrayBuffer exists: in Node always, in a browser only on a
// cross-origin isolated page (COOP: same-origin + COEP: require-corp).
export function threadsAvailable() {
  if (typeof SharedArrayBuffer !== 'function') return false;
  return isNode || globalThis.crossOriginIsolated === true;
}

// Picks the build, thread count and kernels for a requested `threads` (undefined = automatic):
// relaxed-SIMD kernels unless `relaxedSimd` is false or the engine lacks them.
export function chooseBuild(threads, relaxedSimd = true) {
  if (typeof relaxedSimd !== 'boolean') throw new TypeError(`relaxedSimd must be true or false, got ${relaxedSimd}`);
  return { ...chooseThreads(threads), relaxedSimd: relaxedSimd && relaxedSimdAvailable() };
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

function distUrl(file) {
  return new URL(`../dist/${file}`, import.meta.url);
}

async function compile(build, relaxedSimd) {
  if (!WebAssembly.validate(SIMD_PROBE)) {
    throw new Error('clip-wasm needs WebAssembly SIMD (Chrome 91+, Firefox 89+, Safari 16.4+, Node 20.16+)');
  }
  const url = distUrl(`${build}.wasm`);
  let bytes;
  if (isNode) {
    const { readFile } = await import('node:fs/promises');
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

// Returns a ready module instance of `build` whose pool holds threads - 1 workers (the calling
// thread is the last one), with relaxed-SIMD kernels if asked.
export async function createInstance(build, threads, relaxedSimd = false) {
  const [wasmModule, glue] = await Promise.all([
    compiledModule(build, relaxedSimd),
    import(distUrl(`${build}.mjs`).href),
  ]);
  const instance = await glue.default({
    clipPoolSize: threads - 1,
    mainScriptUrlOrBlob: distUrl(`${build}.mjs`).href,
    instantiateWasm(imports, receive) {
      WebAssembly.instantiate(wasmModule, imports).then((wasm) => receive(wasm, wasmModule));
      return {};
    },
    print: (text) => console.log(text),
    printErr: (text) => console.warn(text),
  });
  instance.unrefThreads();
  if (relaxedSimd && !instance.enableRelaxedSimd()) {
    instance.endThreads();
    throw new Error('clip-wasm: the relaxed SIMD kernels failed their check in this engine; load with relaxedSimd: false');
  }
  return instance;
}

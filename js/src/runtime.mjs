// Creates instances of the WebAssembly module. Two builds ship in dist/: SIMD + threads
// (clip-wasm-threads) and SIMD on one thread (clip-wasm-simd); the choice is made here so that
// users never pass a flag. Where the engine has relaxed SIMD, the module's relaxed multiply-adds
// are patched in before it is compiled and its GEMM kernels switched to them (see
// tools/wasm-relaxed-opcodes.py). The compiled WebAssembly.Module is cached per build and shared by
// every instance; each loaded model gets its own instance (its own memory and worker threads),
// so dispose() returns all of it.

const isNode = typeof process === 'object' && process.versions != null && process.versions.node != null;

const os = isNode ? await import('node:os') : null;
const v8 = isNode ? await import('node:v8') : null;

const compiled = new Map(); // build name -> Promise<WebAssembly.Module>

// The smallest module that uses a SIMD128 instruction (i8x16.splat + drop).
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 10, 9, 1, 7, 0, 65, 0, 253, 15, 26, 11,
]);

// The same with f32x4.relaxed_madd of three splatted zeros: validates where relaxed SIMD is on.
const RELAXED_SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 10, 20, 1, 18, 0, 65, 0, 253, 15, 65, 0, 253, 15, 65,
  0, 253, 15, 253, 133, 2, 26, 11,
]);

// Relaxed SIMD is on by default in Chromium 114+ and Node 22+. Node 20's engine has it behind
// the V8 flag --experimental-wasm-relaxed-simd. The package turns that flag on only while it
// checks for and compiles its own module, then off again: a compiled module keeps the features it
// was compiled with (its worker threads run it), and a changed flag would otherwise linger in the
// user's process and slow every worker thread's start (Node's code cache is refused when V8's
// flags differ: 26 -> 49-58 ms per worker here).
let flagHolders = 0;
async function withRelaxedSimdFlag(work) {
  if (!v8 || WebAssembly.validate(RELAXED_SIMD_PROBE)) return work();
  if (flagHolders++ === 0) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  try {
    return await work();
  } finally {
    if (--flagHolders === 0) v8.setFlagsFromString('--no-experimental-wasm-relaxed-simd');
  }
}

let relaxedAvailable = null;
export function relaxedSimdAvailable() {
  if (relaxedAvailable === null) {
    relaxedAvailable = WebAssembly.validate(RELAXED_SIMD_PROBE);
    if (!relaxedAvailable && v8 && flagHolders === 0) {
      v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
      relaxedAvailable = WebAssembly.validate(RELAXED_SIMD_PROBE);
      v8.setFlagsFromString('--no-experimental-wasm-relaxed-simd');
    }
  }
  return relaxedAvailable;
}

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
    throw new Error(`threads must be a whole number >= 1, got ${threads}`);
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

function readLeb(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at.pos++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return value;
  }
}

// Writes f32x4.relaxed_madd (0xfd 0x105) over each placeholder the build recorded in the
// custom section "clip.relaxed_madd".
function patchRelaxedMadd(bytes) {
  const name = new TextEncoder().encode('clip.relaxed_madd');
  const at = { pos: 8 };
  while (at.pos < bytes.length) {
    const id = bytes[at.pos++];
    const size = readLeb(bytes, at);
    const end = at.pos + size;
    if (id === 0) {
      const nameLength = readLeb(bytes, at);
      const found = nameLength === name.length && name.every((b, i) => bytes[at.pos + i] === b);
      at.pos += nameLength;
      if (found) {
        for (let count = readLeb(bytes, at); count > 0; count--) {
          const offset = readLeb(bytes, at);
          if (bytes[offset] !== 0xd2 || bytes[offset + 1] !== 0x00) throw new Error('clip-wasm: the module does not match its relaxed SIMD offsets');
          bytes[offset] = 0x85;
          bytes[offset + 1] = 0x02;
        }
        return bytes;
      }
    }
    at.pos = end;
  }
  throw new Error('clip-wasm: the module has no relaxed SIMD offsets');
}

async function compile(build, relaxedSimd) {
  if (!WebAssembly.validate(SIMD_PROBE)) {
    throw new Error('clip-wasm needs WebAssembly SIMD (Chrome 91+, Firefox 89+, Safari 16.4+, Node 16.4+)');
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

// The three runtimes behind one interface, so the benchmark times them the same way:
//   ours      this package (js/src), load(dir) of the safetensors checkpoint
//   ours-plain the same with relaxedSimd: false (SIMD128 multiply, then add)
//   ort-web   onnxruntime-web's wasm backend (SIMD + threads) on the ONNX exports
//   ort-node  onnxruntime-node, the native CPU build, as an anchor
// A runner has: name, runtime, dtype, threads, load() -> {ms, parts}, image(pixels),
// textShort(ids), text77(ids) (null where the runtime has no such model), wasmHeap(), dispose().
// Every method resolves to the embedding (Float32Array), so results can be cross-checked.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { processThreads } from './util.mjs';

export const TEXT = 'a photo of a dog.';
export const CONTEXT = 77;

const ORT_FILES = {
  f32: { image: 'image.onnx', textShort: 'text_dynamic.onnx', text77: 'text77.onnx' },
  q8: { image: 'image_q8.onnx', textShort: 'text_dynamic_q8.onnx', text77: 'text77_q8.onnx' },
};

// onnxruntime-web reads its thread count once, when its wasm starts: one process runs one count.
let ortWebModule = null;
export async function ortWeb(threads) {
  if (!ortWebModule) {
    ortWebModule = await import('onnxruntime-web');
    ortWebModule.env.wasm.numThreads = threads;
    ortWebModule.env.wasm.simd = true;
    ortWebModule.env.wasm.proxy = false;
  } else if (ortWebModule.env.wasm.numThreads !== threads) {
    throw new Error(`onnxruntime-web already runs ${ortWebModule.env.wasm.numThreads} threads in this process`);
  }
  return ortWebModule;
}

let ortNodeModule = null;
export async function ortNode() {
  ortNodeModule ??= await import('onnxruntime-node');
  return ortNodeModule.default ?? ortNodeModule;
}

export function ourPackage(packageDir) {
  return import(pathToFileURL(join(packageDir, 'src/index.mjs')).href);
}

export function ourRuntime(packageDir) {
  return import(pathToFileURL(join(packageDir, 'src/runtime.mjs')).href);
}

export function makeRunner(runtime, dtype, threads, paths) {
  if (isOurs(runtime)) return oursRunner(runtime, dtype, threads, paths);
  if (runtime === 'ort-web' || runtime === 'ort-node') return ortRunner(runtime, dtype, threads, paths);
  throw new Error(`unknown runtime '${runtime}'`);
}

export function isOurs(runtime) {
  return runtime === 'ours' || runtime === 'ours-plain';
}

function oursRunner(runtime, dtype, threads, { packageDir, modelDir }) {
  let clip = null;
  return {
    name: `${runtime} ${dtype}`,
    runtime,
    dtype,
    threads,
    async load() {
      const { load } = await ourPackage(packageDir);
      const start = performance.now();
      clip = await load(modelDir, { dtype, threads, relaxedSimd: runtime === 'ours' });
      const ms = performance.now() - start;
      if (clip.info.threads !== threads) throw new Error(`ours: asked ${threads} threads, runs ${clip.info.threads}`);
      return { ms, parts: {} };
    },
    info: () => clip.info,
    tokenize: async (text) => Array.from(await clip.tokenize(text)),
    image: (pixels) => clip.embedImage(pixels),
    // At the text's true length, tokenization included (the ONNX runners get token ids).
    textShort: () => clip.embedText(TEXT),
    text77: null,
    wasmHeap: () => clip.memory(),
    async dispose() {
      await clip?.dispose();
      clip = null;
    },
  };
}

function ortRunner(runtime, dtype, threads, { onnxDir }) {
  const sessions = {};
  let ort = null;
  const options =
    runtime === 'ort-web'
      ? { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }
      : {
          executionProviders: ['cpu'],
          graphOptimizationLevel: 'all',
          intraOpNumThreads: threads,
          interOpNumThreads: 1,
          executionMode: 'sequential',
        };
  const run = async (kind, feeds) => {
    const results = await sessions[kind].run(feeds);
    const output = Object.values(results)[0];
    const data = new Float32Array(output.data);
    output.dispose?.();
    return data;
  };
  const ids = (tokens, length) => {
    const data = new BigInt64Array(length); // zero padding, as CLIP's tokenizer pads
    tokens.forEach((t, i) => (data[i] = BigInt(t)));
    return new ort.Tensor('int64', data, [1, length]);
  };
  return {
    name: `${runtime} ${dtype}`,
    runtime,
    dtype,
    threads,
    // Session creation from the file's bytes, as a page would do with fetched bytes. `kinds`
    // defaults to what our load() gives: one image and one text model.
    async load(kinds = ['image', 'textShort']) {
      ort = runtime === 'ort-web' ? await ortWeb(threads) : await ortNode();
      const parts = {};
      let ms = 0;
      for (const kind of kinds) {
        const start = performance.now();
        const bytes = await readFile(join(onnxDir, ORT_FILES[dtype][kind]));
        sessions[kind] = await ort.InferenceSession.create(bytes, options);
        parts[kind] = performance.now() - start;
        ms += parts[kind];
      }
      return { ms, parts };
    },
    image: (pixels) => {
      const size = Math.round(Math.sqrt(pixels.length / 3));
      return run('image', { [sessions.image.inputNames[0]]: new ort.Tensor('float32', pixels, [1, 3, size, size]) });
    },
    textShort: (tokens) => run('textShort', { [sessions.textShort.inputNames[0]]: ids(tokens, tokens.length) }),
    text77: (tokens) => run('text77', { [sessions.text77.inputNames[0]]: ids(tokens, CONTEXT) }),
    wasmHeap: () => null, // onnxruntime-web does not expose its memory; see the process RSS
    async dispose() {
      for (const session of Object.values(sessions)) await session.release();
    },
  };
}

// A session on a one-node model: the runtime's own start-up (ort-web: compile + instantiate its
// wasm and start its threads; ort-node: its native session set-up).
export async function ortStartup(runtime, threads, onnxDir) {
  const ort = runtime === 'ort-web' ? await ortWeb(threads) : await ortNode();
  const bytes = await readFile(join(onnxDir, 'startup.onnx'));
  const options =
    runtime === 'ort-web' ? { executionProviders: ['wasm'] } : { executionProviders: ['cpu'], intraOpNumThreads: threads };
  const start = performance.now();
  const session = await ort.InferenceSession.create(bytes, options);
  const ms = performance.now() - start;
  await session.release();
  return ms;
}

// Our start-up: compile + instantiate the module and start its worker threads.
export async function oursStartup(runtime, threads, packageDir) {
  const { chooseBuild, createInstance, nodeModules } = await ourRuntime(packageDir);
  await nodeModules();
  const start = performance.now();
  const { build, threads: count, relaxedSimd } = chooseBuild(threads, runtime === 'ours');
  const instance = await createInstance(build, count, relaxedSimd);
  await instance.threadsLoaded();
  const ms = performance.now() - start;
  const processThreadsReady = processThreads(); // the pool's workers, before they are ended
  instance.endThreads();
  return { ms, build, processThreadsReady };
}

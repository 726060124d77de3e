#!/usr/bin/env node
// clip-wasm beside onnxruntime-web in a browser page: Debian's headless Chromium or Firefox ESR,
// or WebKitGTK's MiniBrowser (JavaScriptCore; tests/js/browsers.mjs), the page cross-origin
// isolated so both runtimes get their threads, every file over HTTP from a loopback server.
// ViT-B/32 shapes; the runtimes take turns, each in a fresh browser profile. WebKitGTK has no
// SharedArrayBuffer: there both run on one thread.
//
// Phase `load` (f32):
//   ours            load(URL, {cache: false}): the safetensors checkpoint, streamed
//   ours, caching   load(URL): the first load of a profile, storing the files in the Cache API
//   ours, cached    load(URL) again: the same files from the Cache API, each revalidated (304)
//   ort-web         fetch() of the image and dynamic-length text ONNX exports, then a session
//                   on each (wasm backend, the same thread count, graph optimizations on)
// Before the timed load each page starts its runtime (ours: compiles the module; ort-web: a
// session on a one-node model), as bench/node does, so the figures compare loads, not start-ups.
//
// Phase `latency`: one image (preprocessed, 3x224x224) and one short prompt ("a photo of a
// dog.", 8 tokens; onnxruntime-web runs the dynamic-length text export on the same ids), the
// median of 7 calls after 3 warm-up calls:
//   ours, relaxed SIMD / ours, SIMD128   f32, with relaxedSimd true / false (the package's
//                                        default depends on the engine: printed; the first
//                                        row only where the engine has relaxed SIMD)
//   ours, int8                           q8 (quantized at load from the f32 file)
//   ort-web f32 / ort-web int8           the f32 and dynamic-quantized exports
//
// Writes one JSON file and prints Markdown tables. scripts/bench.sh prepares the inputs.
//
// usage: node bench/browser/bench.mjs [--browser chromium|firefox|webkit] [--phases load,latency]
//                                     [--threads 1,2] [--repeats N] [--out FILE]
import { createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';
import puppeteer from 'puppeteer-core';

import { CHROMIUM, FIREFOX, launchWebKit } from '../../tests/js/browsers.mjs';
import { median, round } from '../node/util.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const BROWSERS = ['chromium', 'firefox', 'webkit'];
const USAGE = `usage: node bench/browser/bench.mjs [options]
  --browser NAME   chromium, firefox or webkit (default chromium)
  --phases LIST    load,latency (default both)
  --threads LIST   thread counts (default 1,2; webkit: 1 only)
  --repeats N      rounds, each in fresh profiles; medians are printed (default 3)
  --model DIR      safetensors checkpoint (default build/bench/model)
  --onnx DIR       tools/export_onnx.py output (default build/bench/onnx)
  --out FILE       results JSON (default build/bench/browser-NAME.json)
  -h, --help`;
let values;
try {
  ({ values } = parseArgs({
    options: {
      browser: { type: 'string', default: 'chromium' },
      phases: { type: 'string', default: 'load,latency' },
      out: { type: 'string' },
      threads: { type: 'string' }, // 1,2 (WebKit: 1)
      repeats: { type: 'string', default: '3' },
      model: { type: 'string', default: join(root, 'build/bench/model') },
      onnx: { type: 'string', default: join(root, 'build/bench/onnx') },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (error) {
  console.error(`${error.message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const browserName = values.browser;
const webkit = browserName === 'webkit';
const phases = values.phases.split(',');
const threadCounts = (values.threads ?? (webkit ? '1' : '1,2')).split(',').map(Number);
const repeats = Number(values.repeats);
if (!BROWSERS.includes(browserName)) throw new Error(`--browser takes ${BROWSERS.join(', ')}, got ${browserName}`);
if (webkit && threadCounts.some((t) => t !== 1)) throw new Error('WebKitGTK has no SharedArrayBuffer: --threads 1 only');
if (!phases.every((p) => p === 'load' || p === 'latency')) throw new Error(`--phases takes load and/or latency, got ${values.phases}`);
if (!threadCounts.every((t) => Number.isInteger(t) && t >= 1) || !(Number.isInteger(repeats) && repeats >= 1)) {
  throw new Error('--threads takes counts >= 1 (e.g. 1,2) and --repeats a count >= 1');
}
const out = values.out ?? join(root, `build/bench/browser-${browserName}.json`);

// /js/... the package, /ort/... onnxruntime-web's dist, /model/... and /onnx/... the weights;
// every response cross-origin isolated.
const ROOTS = {
  js: join(root, 'js'),
  ort: join(root, 'node_modules/onnxruntime-web/dist'),
  model: resolve(values.model),
  onnx: resolve(values.onnx),
};
for (const [name, dir] of Object.entries(ROOTS)) {
  if (!existsSync(dir)) throw new Error(`no ${dir} for /${name}/: run scripts/bench.sh first (it prepares the inputs)`);
}
const TYPES = { '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
const ISOLATED = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
const server = createServer((req, res) => {
  const [, top, ...rest] = decodeURIComponent(new URL(req.url, 'http://x').pathname).split('/');
  if (top === 'page.html') {
    res.writeHead(200, { ...ISOLATED, 'Content-Type': 'text/html' }).end('<!doctype html><title>bench</title>');
    return;
  }
  const file = ROOTS[top] && join(ROOTS[top], ...rest);
  const stat = file?.startsWith(ROOTS[top]) ? statSync(file, { throwIfNoEntry: false }) : undefined;
  if (!stat || stat.isDirectory()) {
    res.writeHead(404, ISOLATED).end();
    return;
  }
  // An ETag, as the Hugging Face hub sends: a cached copy is revalidated, and a 304 answers.
  const { size, mtimeMs } = stat;
  const etag = `"${size}-${mtimeMs}"`;
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, { ...ISOLATED, ETag: etag }).end();
    return;
  }
  const type = TYPES[extname(file)] ?? 'application/octet-stream';
  res.writeHead(200, { ...ISOLATED, 'Content-Type': type, 'Content-Length': size, ETag: etag });
  createReadStream(file).pipe(res);
});
await new Promise((done) => server.listen(0, '127.0.0.1', done));
const base = `http://127.0.0.1:${server.address().port}`;

// Run in the page (as source text, so arrow functions): each takes {threads, tokens} and returns
// {row: ms} (and `tokens`, the prompt's ids, from ours).
const LOAD_TASKS = {
  ours: async ({ threads }) => {
    const { load } = await import('/js/src/index.mjs');
    const { chooseBuild, createInstance } = await import('/js/src/runtime.mjs');
    const { build, threads: count, relaxedSimd } = chooseBuild(threads);
    const instance = await createInstance(build, count, relaxedSimd);
    await instance.threadsLoaded();
    instance.endThreads();
    const times = {};
    for (const [name, cache] of [['ours', false], ['ours, caching', true], ['ours, cached', true]]) {
      const start = performance.now();
      const clip = await load('/model/', { threads, cache });
      times[name] = performance.now() - start;
      if (clip.info.threads !== threads) throw new Error(`ours: asked ${threads} threads, runs ${clip.info.threads}`);
      await clip.dispose();
    }
    return times;
  },
  'ort-web': async ({ threads }) => {
    const ort = await import('/ort/ort.wasm.min.mjs');
    Object.assign(ort.env.wasm, { numThreads: threads, wasmPaths: '/ort/', proxy: false });
    const bytes = async (file) => new Uint8Array(await (await fetch(`/onnx/${file}`)).arrayBuffer());
    await (await ort.InferenceSession.create(await bytes('startup.onnx'), { executionProviders: ['wasm'] })).release();
    const start = performance.now();
    const sessions = [];
    for (const file of ['image.onnx', 'text_dynamic.onnx']) {
      sessions.push(await ort.InferenceSession.create(await bytes(file), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }));
    }
    const ms = performance.now() - start;
    for (const session of sessions) await session.release();
    return { 'ort-web': ms };
  },
};

// The median of 7 timed calls of `call` after 3 untimed ones.
const TIMED = `async (call) => {
  for (let i = 0; i < 3; i++) await call();
  const times = [];
  for (let i = 0; i < 7; i++) {
    const start = performance.now();
    await call();
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[3];
}`;
const PIXELS = '() => new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i * 0.01))';
const PROMPT = 'a photo of a dog.';

const oursLatency = (name, options) => `async ({ threads }) => {
  const timed = ${TIMED};
  const { load } = await import('/js/src/index.mjs');
  const clip = await load('/model/', { threads, cache: false, ...${JSON.stringify(options)} });
  if (clip.info.threads !== threads) throw new Error('ours: asked ' + threads + ' threads, runs ' + clip.info.threads);
  const pixels = (${PIXELS})();
  const image = await timed(() => clip.embedImage(pixels));
  const text = await timed(() => clip.embedText(${JSON.stringify(PROMPT)}));
  const tokens = Array.from(await clip.tokenize(${JSON.stringify(PROMPT)}));
  await clip.dispose();
  return { ['${name} image']: image, ['${name} text']: text, tokens };
}`;
const ortLatency = (name, imageFile, textFile) => `async ({ threads, tokens }) => {
  const timed = ${TIMED};
  const ort = await import('/ort/ort.wasm.min.mjs');
  Object.assign(ort.env.wasm, { numThreads: threads, wasmPaths: '/ort/', proxy: false });
  const session = async (file) => ort.InferenceSession.create(new Uint8Array(await (await fetch('/onnx/' + file)).arrayBuffer()),
    { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const image = await session('${imageFile}');
  const pixels = new ort.Tensor('float32', (${PIXELS})(), [1, 3, 224, 224]);
  const imageMs = await timed(() => image.run({ [image.inputNames[0]]: pixels }));
  await image.release();
  const text = await session('${textFile}');
  const ids = new ort.Tensor('int64', BigInt64Array.from(tokens, BigInt), [1, tokens.length]);
  const textMs = await timed(() => text.run({ [text.inputNames[0]]: ids }));
  await text.release();
  return { ['${name} image']: imageMs, ['${name} text']: textMs };
}`;
// Ours first: it gives the prompt's token ids to onnxruntime-web.
const LATENCY_TASKS = {
  'ours, relaxed SIMD': oursLatency('ours, relaxed SIMD', { relaxedSimd: true }),
  'ours, SIMD128': oursLatency('ours, SIMD128', { relaxedSimd: false }),
  'ours, int8': oursLatency('ours, int8', { dtype: 'q8' }),
  'ort-web f32': ortLatency('ort-web f32', 'image.onnx', 'text_dynamic.onnx'),
  'ort-web int8': ortLatency('ort-web int8', 'image_q8.onnx', 'text_dynamic_q8.onnx'),
};

// A fresh browser on a persistent profile, as a user's (an incognito one keeps the Cache API in
// memory, where 600 MB does not fit). MiniBrowser's automation sessions always keep their data in
// memory, and start empty.
async function openBrowser(profile) {
  if (webkit) return launchWebKit({ scriptMs: 30 * 60_000 });
  if (browserName === 'firefox') {
    const browser = await puppeteer.launch({ browser: 'firefox', executablePath: FIREFOX, headless: true, userDataDir: profile });
    return { page: await browser.newPage(), close: () => browser.close() };
  }
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ['--no-sandbox'] });
  return { page: await context.newPage(), close: () => context.close() };
}

// What the engine offers, read once from a page: its user agent, the package's default kernels,
// and whether it has relaxed SIMD (without, relaxedSimd: true runs SIMD128).
async function probeEngine() {
  const profile = mkdtempSync(join(profiles, 'p-'));
  const browser = await openBrowser(profile);
  try {
    await browser.page.goto(`${base}/page.html`);
    return await browser.page.evaluate(async () => {
      const { chooseBuild } = await import('/js/src/runtime.mjs');
      return {
        userAgent: navigator.userAgent,
        defaultKernels: chooseBuild(1).relaxedSimd ? 'relaxed SIMD' : 'SIMD128',
        relaxedSimd: chooseBuild(1, true).relaxedSimd,
      };
    });
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

const profiles = mkdtempSync(join(tmpdir(), 'clip-bench-browser-'));
const samples = {}; // `${row} ${threads}` -> [ms]
const meta = { date: new Date().toISOString(), browser: browserName, threads: threadCounts, repeats, model: ROOTS.model, onnx: ROOTS.onnx };
try {
  const engine = await probeEngine();
  Object.assign(meta, { userAgent: engine.userAgent, defaultKernels: engine.defaultKernels });
  if (!engine.relaxedSimd) delete LATENCY_TASKS['ours, relaxed SIMD'];
  const tasks = [
    ...(phases.includes('load') ? Object.entries(LOAD_TASKS) : []),
    ...(phases.includes('latency') ? Object.entries(LATENCY_TASKS) : []),
  ];
  for (let pass = 0; pass < repeats; pass++) {
    for (const threads of threadCounts) {
      let tokens = null;
      for (const [name, task] of tasks) {
        const profile = mkdtempSync(join(profiles, 'p-'));
        const browser = await openBrowser(profile);
        try {
          const { page } = browser;
          await page.goto(`${base}/page.html`);
          if (!webkit && !(await page.evaluate(() => crossOriginIsolated))) throw new Error('the page is not cross-origin isolated');
          const times = await page.evaluate(`(${task})(${JSON.stringify({ threads, tokens })})`);
          if (times.tokens) tokens = times.tokens;
          delete times.tokens;
          for (const [row, ms] of Object.entries(times)) (samples[`${row} ${threads}`] ??= []).push(round(ms));
          const shown = JSON.stringify(times, (k, v) => (typeof v === 'number' ? Math.round(v * 10) / 10 : v));
          process.stderr.write(`${browserName}: round ${pass + 1}, ${name}, ${threads} thread(s): ${shown}\n`);
        } finally {
          await browser.close();
          rmSync(profile, { recursive: true, force: true });
        }
      }
    }
  }
} finally {
  server.close();
  rmSync(profiles, { recursive: true, force: true });
}

const medians = Object.fromEntries(Object.entries(samples).map(([key, ms]) => [key, round(median(ms))]));
mkdirSync(dirname(resolve(out)), { recursive: true });
writeFileSync(out, JSON.stringify({ meta, samples, medians }, null, 2));

const table = (title, rows) => {
  console.log(`| ${title} | ${threadCounts.map((t) => `${t} thread${t > 1 ? 's' : ''}`).join(' | ')} |`);
  console.log(`|---|${threadCounts.map(() => '---:').join('|')}|`);
  for (const row of rows) console.log(`| ${row} | ${threadCounts.map((t) => medians[`${row} ${t}`] ?? '-').join(' | ')} |`);
  console.log();
};
const ratio = (slow, fast) => threadCounts.map((t) => (medians[`${slow} ${t}`] / medians[`${fast} ${t}`]).toFixed(2)).join(' / ');
console.log(`${meta.userAgent}; the package's default kernels here: ${meta.defaultKernels}; ms, median of ${repeats} rounds\n`);
if (phases.includes('load')) {
  table('load, f32', ['ours', 'ours, caching', 'ours, cached', 'ort-web']);
  console.log(`load: ours ${ratio('ort-web', 'ours')}x faster than ort-web (both over HTTP; ${threadCounts.join(' / ')} threads)`);
}
if (phases.includes('latency')) {
  const ours = `ours, ${meta.defaultKernels}`;
  const rows = Object.keys(LATENCY_TASKS);
  table('image', rows.map((r) => `${r} image`));
  table('short text', rows.map((r) => `${r} text`));
  console.log(`image f32 (${ours}): ${ratio('ort-web f32 image', `${ours} image`)}x faster than ort-web f32`);
  console.log(`image int8: ${ratio('ort-web f32 image', 'ours, int8 image')}x faster than ort-web f32, ${ratio('ort-web int8 image', 'ours, int8 image')}x than its int8`);
  console.log(`short text f32 (${ours}): ${ratio('ort-web f32 text', `${ours} text`)}x faster than ort-web's dynamic-length export`);
}
console.log(`results in ${out}`);

#!/usr/bin/env node
// Loading f32 ViT-B/32 in a browser page (headless Chromium, cross-origin isolated so both
// runtimes get their threads), over HTTP from a loopback server, beside onnxruntime-web:
//   ours            load(URL, {cache: false}): the safetensors checkpoint, streamed
//   ours, caching   load(URL): the first load of a profile, storing the files in the Cache API
//   ours, cached    load(URL) again: the same files from the Cache API, each revalidated (304)
//   ort-web         fetch() of the image and dynamic-length text ONNX exports, then a session
//                   on each (wasm backend, the same thread count, graph optimizations on)
// Each measurement runs in a fresh browser profile; the runtimes take turns. Before the timed
// load each page starts its runtime (ours: compiles the module; ort-web: a session on a one-node
// model), as bench/node does, so the figures compare loads, not start-ups.
// Writes one JSON file and prints a Markdown table. scripts/bench.sh prepares the inputs.
//
// usage: node bench/browser/load.mjs [--out FILE] [--threads 1,2] [--repeats N]
import { createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

import { median, round } from '../node/util.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const { values } = parseArgs({
  options: {
    out: { type: 'string', default: join(root, 'build/bench/browser-load.json') },
    threads: { type: 'string', default: '1,2' },
    repeats: { type: 'string', default: '3' },
    model: { type: 'string', default: join(root, 'build/bench/model') },
    onnx: { type: 'string', default: join(root, 'build/bench/onnx') },
    chromium: { type: 'string', default: process.env.CHROMIUM ?? '/usr/bin/chromium' },
  },
});
const threadCounts = values.threads.split(',').map(Number);
const repeats = Number(values.repeats);
if (!threadCounts.every((t) => Number.isInteger(t) && t >= 1) || !(Number.isInteger(repeats) && repeats >= 1)) {
  throw new Error('--threads takes counts >= 1 (e.g. 1,2) and --repeats a count >= 1');
}

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
    res.writeHead(200, { ...ISOLATED, 'Content-Type': 'text/html' }).end('<!doctype html><title>load</title>');
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

// Run in the page (as source text, so arrow functions): the runtime started, then the timed
// loads. Each returns {name: ms}.
const PAGE_TASKS = {
  ours: async (threads) => {
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
  'ort-web': async (threads) => {
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

const profiles = mkdtempSync(join(tmpdir(), 'clip-bench-browser-'));
const samples = {}; // `${name} ${threads}` -> [ms]
try {
  for (let pass = 0; pass < repeats; pass++) {
    for (const threads of threadCounts) {
      for (const runtime of Object.keys(PAGE_TASKS)) {
        // A persistent profile, as a user's: an incognito one keeps the Cache API in memory,
        // where 600 MB does not fit.
        const profile = mkdtempSync(join(profiles, 'p-'));
        const context = await chromium.launchPersistentContext(profile, { executablePath: values.chromium, args: ['--no-sandbox'] });
        try {
          const page = await context.newPage();
          await page.goto(`${base}/page.html`);
          if (!(await page.evaluate(() => crossOriginIsolated))) throw new Error('the page is not cross-origin isolated');
          const times = await page.evaluate(`(${PAGE_TASKS[runtime]})(${threads})`);
          for (const [name, ms] of Object.entries(times)) (samples[`${name} ${threads}`] ??= []).push(round(ms));
          process.stderr.write(`browser load: round ${pass + 1}, ${runtime}, ${threads} thread(s): ${JSON.stringify(times, (k, v) => (typeof v === 'number' ? Math.round(v) : v))}\n`);
        } finally {
          await context.close();
          rmSync(profile, { recursive: true, force: true });
        }
      }
    }
  }
} finally {
  server.close();
  rmSync(profiles, { recursive: true, force: true });
}

const results = {
  meta: { date: new Date().toISOString(), chromium: values.chromium, threads: threadCounts, repeats, model: ROOTS.model, onnx: ROOTS.onnx },
  samples,
  medians: Object.fromEntries(Object.entries(samples).map(([key, ms]) => [key, round(median(ms))])),
};
mkdirSync(dirname(resolve(values.out)), { recursive: true });
writeFileSync(values.out, JSON.stringify(results, null, 2));

const names = ['ours', 'ours, caching', 'ours, cached', 'ort-web'];
console.log(`| load in headless Chromium, ms (median of ${repeats}) | ${threadCounts.map((t) => `${t} thread${t > 1 ? 's' : ''}`).join(' | ')} |`);
console.log(`|---|${threadCounts.map(() => '---:').join('|')}|`);
for (const name of names) console.log(`| ${name} | ${threadCounts.map((t) => results.medians[`${name} ${t}`]).join(' | ')} |`);
for (const t of threadCounts) {
  const ratio = results.medians[`ort-web ${t}`] / results.medians[`ours ${t}`];
  console.log(`ours vs ort-web (${t}t), both over HTTP: load ${ratio.toFixed(2)}x faster`);
}
console.log(`results in ${values.out}`);

#!/usr/bin/env node
// Benchmarks this package's wasm module beside onnxruntime-web (wasm backend, SIMD + threads) and
// onnxruntime-node (native CPU), on the same ViT-B/32 weights, in one run:
//   latency  image embedding (the same preprocessed 224x224 input), short text at its true
//            length (ort: dynamic-axis model at the same tokens) and ort's padded 77-token
//            model; one process per thread count with every runner loaded, runners timed in turn
//            (A B C A B C ...) so that a change in machine load hits all of them alike
//   load     fresh processes: module start-up, load from local files, RSS and wasm heap; and the
//            cost of reading the weights file into fresh vs already-touched wasm memory
//   probe    the SIMD128 mul+add peak and GEMM speeds (bench/wasm-probe), to put GFLOP/s in scale
//   sizes    the wasm binaries and weight files
// Writes one JSON file and prints Markdown tables. scripts/bench.sh prepares the inputs.
//
// usage: node bench/node/bench.mjs [--out FILE] [--quick] [--threads 1,2] [--iterations N] ...
import { execFileSync, fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { openSync, readSync, closeSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';

import { runProbe } from './probe.mjs';
import { evaluate, tables } from './report.mjs';
import { isOurs, TEXT } from './runners.mjs';
import { cpuSnapshot, loadAverage, median, otherCores, sleep } from './util.mjs';

const NOISY_CORES = 0.25; // other processes' CPU during timed rounds above which they are noisy
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');

const USAGE = `usage: node bench/node/bench.mjs [options]
  --out FILE          results JSON (default build/bench/results.json)
  --model DIR         checkpoint for our load(): model.safetensors + config.json + tokenizer
                      (default build/bench/model); its reference.safetensors gives the image
  --onnx DIR          tools/export_onnx.py output (default build/bench/onnx)
  --package DIR       the clip-wasm package (default js)
  --probe FILE        bench/wasm-probe build (default build/bench/wasm-probe/probe.js)
  --threads LIST      thread counts (default 1,2)
  --runtimes LIST     ours,ours-plain,ort-web,ort-node (default ours,ort-web,ort-node;
                      ours-plain: ours with relaxedSimd: false)
  --dtypes LIST       f32,q8 (default both)
  --phases LIST       probe,latency,load,sizes (default all)
  --iterations N      timed rounds per thread count (default 15; --quick 5)
  --warmup N          untimed rounds first (default 2; --quick 1)
  --load-repeats N    fresh processes per load configuration (default 3; --quick 1)
  --gap-ms N          pause before each timed call, so the previous runtime's threads go idle
                      (default 100: onnxruntime-node's threads spin for 25-100 ms after a run, which
                      took a core from the next runner: our 2-thread short text 19.5 ms after a
                      25 ms pause, 12.9 ms after 100 ms)
  --wait-quiet X      before each measurement process, wait (at most --wait-max s, default 300)
                      until other processes use under X cores (sampled over 3 s); default off
  --retries N         redo a thread count's latency rounds up to N times while other processes
                      took over ${NOISY_CORES} cores during them; the quietest attempt is kept (default 0)
  --quick             about 2 minutes on 2 cores
  -h, --help`;

function parse(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string', default: 'build/bench/results.json' },
      model: { type: 'string', default: join(root, 'build/bench/model') },
      onnx: { type: 'string', default: join(root, 'build/bench/onnx') },
      package: { type: 'string', default: join(root, 'js') },
      probe: { type: 'string', default: join(root, 'build/bench/wasm-probe/probe.js') },
      threads: { type: 'string', default: '1,2' },
      runtimes: { type: 'string', default: 'ours,ort-web,ort-node' },
      dtypes: { type: 'string', default: 'f32,q8' },
      phases: { type: 'string', default: 'probe,latency,load,sizes' },
      iterations: { type: 'string' },
      warmup: { type: 'string' },
      'load-repeats': { type: 'string' },
      'gap-ms': { type: 'string', default: '100' },
      'wait-quiet': { type: 'string' },
      'wait-max': { type: 'string', default: '300' },
      retries: { type: 'string', default: '0' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
  const count = (s, fallback, name) => {
    const n = s === undefined ? fallback : Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number, got '${s}'`);
    return n;
  };
  const args = {
    help: values.help,
    out: resolve(values.out),
    paths: { modelDir: resolve(values.model), onnxDir: resolve(values.onnx), packageDir: resolve(values.package) },
    probe: resolve(values.probe),
    threads: list(values.threads).map((t) => count(t, 1, 'threads')),
    runtimes: list(values.runtimes),
    dtypes: list(values.dtypes),
    phases: list(values.phases),
    quick: values.quick,
    iterations: count(values.iterations, values.quick ? 5 : 15, 'iterations'),
    warmup: count(values.warmup, values.quick ? 1 : 2, 'warmup'),
    loadRepeats: count(values['load-repeats'], values.quick ? 1 : 3, 'load-repeats'),
    gapMs: count(values['gap-ms'], 100, 'gap-ms'),
    waitQuiet: values['wait-quiet'] === undefined ? null : Number(values['wait-quiet']),
    waitMax: count(values['wait-max'], 300, 'wait-max'),
    retries: count(values.retries, 0, 'retries'),
  };
  if (args.waitQuiet !== null && !(args.waitQuiet >= 0)) throw new Error(`--wait-quiet must be a number of cores, got '${values['wait-quiet']}'`);
  for (const r of args.runtimes) if (!['ours', 'ours-plain', 'ort-web', 'ort-node'].includes(r)) throw new Error(`unknown runtime '${r}'`);
  for (const d of args.dtypes) if (!['f32', 'q8'].includes(d)) throw new Error(`unknown dtype '${d}'`);
  for (const p of args.phases) if (!['probe', 'latency', 'load', 'sizes'].includes(p)) throw new Error(`unknown phase '${p}'`);
  return args;
}

// On a shared machine: waits until other processes leave the cores mostly idle (or time is up).
async function waitQuiet(args, log) {
  if (args.waitQuiet === null) return null;
  const start = performance.now();
  for (;;) {
    const before = cpuSnapshot();
    await sleep(3000);
    const others = otherCores(before, cpuSnapshot());
    const waited = (performance.now() - start) / 1000;
    if (others === null || others < args.waitQuiet || waited >= args.waitMax) {
      if (others !== null && others >= args.waitQuiet) log(`still busy after ${waited.toFixed(0)} s (${others} cores), going on`);
      return { waitedSeconds: +waited.toFixed(0), otherCores: others };
    }
  }
}

function runChild(task) {
  return new Promise((resolvePromise, reject) => {
    const child = fork(join(here, 'child.mjs'), [JSON.stringify(task)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let answer = null;
    child.on('message', (message) => (answer = message));
    child.on('exit', (code, signal) => {
      if (answer?.ok) return resolvePromise(answer.result);
      const why = answer?.error ?? `exited with ${signal ?? code} before answering`;
      reject(new Error(`${task.kind} ${task.runtime ?? ''} ${task.dtype ?? ''} ${task.threads} threads: ${why}`));
    });
  });
}

// Bytes of tensor data in a safetensors file: the file less its 8-byte length and JSON header.
function safetensorsDataBytes(path) {
  const fd = openSync(path, 'r');
  const head = Buffer.alloc(8);
  readSync(fd, head, 0, 8, 0);
  closeSync(fd);
  return statSync(path).size - 8 - Number(head.readBigUInt64LE(0));
}

function sizes(args) {
  const out = {};
  const add = (name, path, gzip = true) => {
    if (!existsSync(path)) return;
    out[name] = { bytes: statSync(path).size, gzip: gzip ? gzipSync(readFileSync(path), { level: 9 }).length : null, path };
  };
  const dist = join(args.paths.packageDir, 'dist');
  for (const f of ['clip-wasm-threads.wasm', 'clip-wasm-threads.mjs', 'clip-wasm-threads.worker.js', 'clip-wasm-simd.wasm', 'clip-wasm-simd.mjs']) {
    add(`ours ${f}`, join(dist, f));
  }
  const ortDist = join(root, 'node_modules/onnxruntime-web/dist');
  // The one wasm build ort-web runs in Node (SIMD + threads, with or without workers).
  add('ort-web ort-wasm-simd-threaded.wasm', join(ortDist, 'ort-wasm-simd-threaded.wasm'));
  add('ort-web ort-wasm-simd-threaded.mjs', join(ortDist, 'ort-wasm-simd-threaded.mjs'));
  add('ort-web ort.node.min.mjs', join(ortDist, 'ort.node.min.mjs'));
  add('ort-web ort.wasm.min.mjs (browser entry)', join(ortDist, 'ort.wasm.min.mjs'));
  add('weights model.safetensors (f32)', join(args.paths.modelDir, 'model.safetensors'), false);
  for (const f of ['image.onnx', 'text_dynamic.onnx', 'text77.onnx', 'image_q8.onnx', 'text_dynamic_q8.onnx', 'text77_q8.onnx']) {
    add(`weights ${f}`, join(args.paths.onnxDir, f), false);
  }
  return out;
}

// Which code was measured: the repository's commit, how many files of the built sources differ
// from it, and digests of the package's wasm files (the package may be built elsewhere).
function provenance(packageDir) {
  const git = (...a) => {
    try {
      return execFileSync('git', ['-C', root, ...a], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return null;
    }
  };
  const dirty = git('status', '--porcelain', '--', 'src', 'wasm', 'js', 'CMakeLists.txt');
  const wasm = {};
  for (const f of ['clip-wasm-threads.wasm', 'clip-wasm-simd.wasm']) {
    const path = join(packageDir, 'dist', f);
    if (existsSync(path)) wasm[f] = createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16);
  }
  return { commit: git('rev-parse', 'HEAD'), changedSourceFiles: dirty === null ? null : dirty.split('\n').filter(Boolean).length, wasmSha256: wasm };
}

function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

async function main() {
  const args = parse(process.argv.slice(2));
  if (args.help) return console.log(USAGE);
  for (const [name, dir] of Object.entries(args.paths)) if (!existsSync(dir)) throw new Error(`${name} ${dir} not found (scripts/bench.sh prepares it)`);
  const started = performance.now();
  const results = {
    meta: {
      date: new Date().toISOString(),
      command: ['node', ...process.argv.slice(1)].join(' '),
      node: process.version,
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      memoryBytes: totalmem(),
      loadavgStart: loadAverage(),
      onnxruntimeWeb: packageVersion('onnxruntime-web'),
      onnxruntimeNode: packageVersion('onnxruntime-node'),
      model: args.paths.modelDir,
      code: provenance(args.paths.packageDir),
      text: TEXT,
      onnxManifest: existsSync(join(args.paths.onnxDir, 'manifest.json'))
        ? JSON.parse(readFileSync(join(args.paths.onnxDir, 'manifest.json'), 'utf8'))
        : null,
    },
    args: { ...args, help: undefined },
    weights: { f32WeightBytes: safetensorsDataBytes(join(args.paths.modelDir, 'model.safetensors')) },
  };
  const common = { paths: args.paths };
  const log = (s) => process.stderr.write(`bench: ${s} (load average ${loadAverage().join(' ')})\n`);

  if (args.phases.includes('sizes')) results.sizes = sizes(args);
  if (args.phases.includes('probe')) {
    await waitQuiet(args, log);
    log('SIMD128 peak probe');
    results.probe = await runProbe(args.probe);
  }
  if (args.phases.includes('latency')) {
    results.latency = {};
    for (const threads of args.threads) {
      // A round in which other processes took CPU is redone (--retries), keeping the quietest.
      const attempts = [];
      for (let attempt = 0; attempt <= args.retries; attempt++) {
        const quiet = await waitQuiet(args, log);
        log(`latency, ${threads} threads${attempt ? `, attempt ${attempt + 1}` : ''}`);
        const result = await runChild({
          kind: 'latency',
          threads,
          runtimes: args.runtimes,
          dtypes: args.dtypes,
          iterations: args.iterations,
          warmup: args.warmup,
          gapMs: args.gapMs,
          ...common,
        });
        result.quietBefore = quiet;
        attempts.push(result);
        if (!(result.otherCores > NOISY_CORES)) break;
        log(`other processes took ${result.otherCores} cores during the ${threads}-thread rounds: a noisy measurement`);
      }
      const best = attempts.reduce((a, b) => ((b.otherCores ?? 0) < (a.otherCores ?? 0) ? b : a));
      best.attempts = attempts.map((a) => ({ otherCores: a.otherCores, loadavgStart: a.loadavgStart }));
      results.latency[threads] = best;
    }
  }
  if (args.phases.includes('load')) {
    const configs = [];
    for (const threads of args.threads) {
      for (const runtime of args.runtimes) for (const dtype of args.dtypes) configs.push({ runtime, dtype, threads, runs: [] });
    }
    // Round-robin over configurations, like the latency rounds.
    for (let i = 0; i < args.loadRepeats; i++) {
      log(`load and start-up, round ${i + 1} of ${args.loadRepeats}`);
      for (const c of configs) {
        const quiet = await waitQuiet(args, log);
        const run = await runChild({ kind: 'load', runtime: c.runtime, dtype: c.dtype, threads: c.threads, ...common });
        c.runs.push({ ...run, quietBefore: quiet });
      }
    }
    for (const c of configs) {
      const m = (f) => median(c.runs.map(f).filter((x) => x != null));
      Object.assign(c, {
        startupMs: m((r) => r.startupMs),
        loadMs: m((r) => r.loadMs),
        rssAfterLoad: m((r) => r.memoryAfterLoad.rss),
        rssPeak: m((r) => r.memoryPeak.maxRss),
        wasmHeapPeak: isOurs(c.runtime) ? m((r) => r.wasmHeapPeak?.heapBytes) : null,
        wasmHeapUsedPeak: isOurs(c.runtime) ? m((r) => r.wasmHeapPeak?.usedBytes) : null,
        weightBytes: c.runs[0].weightBytes ?? null,
      });
    }
    const floors = [];
    for (let i = 0; i < args.loadRepeats; i++) floors.push(await runChild({ kind: 'floor', ...common }));
    const floor = {
      bytes: floors[0].bytes,
      freshMs: median(floors.map((f) => f.freshMs)),
      touchedMs: median(floors.map((f) => f.touchedMs)),
      parallel: floors[0].parallel,
      freshParallelMs: median(floors.map((f) => f.freshParallelMs)),
    };
    results.load = { configs, floor };
  }
  results.meta.loadavgEnd = loadAverage();
  results.meta.seconds = +((performance.now() - started) / 1000).toFixed(1);
  results.evaluation = evaluate(results);
  const text = tables(results);
  results.tables = text;
  mkdirSync(dirname(args.out), { recursive: true });
  writeFileSync(args.out, `${JSON.stringify(results, null, 1)}\n`);
  console.log(text);
  console.log(`\n${results.meta.seconds} s; results in ${args.out}`);
}

try {
  await main();
} catch (error) {
  console.error(`bench: ${error.message}`);
  process.exitCode = 1;
}

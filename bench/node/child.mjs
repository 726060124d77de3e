// One measurement process, forked by bench.mjs with its task as JSON in argv[2]; the result goes
// back over the IPC channel. Two kinds of task:
//   latency  one thread count, every runner loaded side by side, timed in turn (A B C A B C ...)
//   load     a fresh process for one runtime/dtype/thread count: start-up, load, memory
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

import { isOurs, makeRunner, ortStartup, oursStartup, ortWeb, TEXT } from './runners.mjs';
import { cosine, cpuSnapshot, loadAverage, median, memoryNow, otherCores, processThreads, readSafetensors, round, sleep, summary } from './util.mjs';

// The CLIP BPE ids of TEXT, for runs without our tokenizer (checked against it when it is there).
const TEXT_IDS = [49406, 320, 1125, 539, 320, 1929, 269, 49407];

const warnings = [];
const warn = console.warn;
console.warn = (...args) => {
  warnings.push(args.join(' '));
  warn(...args);
};

// The first preprocessed image of the checkpoint's reference file (what PyTorch embedded), else
// a fixed pattern. Either way every runner gets the same floats.
function pixelsAndReference(modelDir) {
  const path = join(modelDir, 'reference.safetensors');
  if (existsSync(path)) {
    const { pixel_values: pixels, image_embeds: embeds } = readSafetensors(path);
    const size = pixels.shape[1] * pixels.shape[2] * pixels.shape[3];
    return { pixels: pixels.data.slice(0, size), reference: embeds.data.slice(0, embeds.shape[1]), source: path };
  }
  const pixels = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i * 0.01));
  return { pixels, reference: null, source: 'sin pattern' };
}

const OPS = ['image', 'textShort', 'text77'];

async function latency(task) {
  const result = { loadavgStart: loadAverage(), threadsBefore: processThreads(), runners: {} };
  const runners = [];
  for (const runtime of task.runtimes) {
    for (const dtype of task.dtypes) {
      const runner = makeRunner(runtime, dtype, task.threads, task.paths);
      const kinds = isOurs(runtime) ? undefined : OPS;
      const loaded = await runner.load(kinds);
      runners.push(runner);
      result.runners[runner.name] = { loadMs: round(loaded.ms), loadParts: loaded.parts };
    }
  }
  result.threadsAfterLoad = processThreads();
  if (task.runtimes.includes('ort-web')) result.ortWebNumThreads = (await ortWeb(task.threads)).env.wasm.numThreads;

  const ours = runners.find((r) => r.runtime === 'ours');
  const tokens = ours ? await ours.tokenize(TEXT) : TEXT_IDS;
  result.tokens = tokens;
  const { pixels, reference, source } = pixelsAndReference(task.paths.modelDir);
  result.pixels = source;

  // Agreement: image against PyTorch's embedding, text against the first runner's.
  const first = {};
  for (const runner of runners) {
    const r = result.runners[runner.name];
    r.agreement = {};
    for (const op of OPS) {
      if (!runner[op]) continue;
      const out = await runner[op](op === 'image' ? pixels : tokens);
      if (op === 'image' && reference) r.agreement.imageVsPytorch = round(cosine(out, reference), 6);
      if (op !== 'image') {
        first.text ??= { name: runner.name, out };
        r.agreement[`${op}Vs${first.text.name.replace(' ', '-')}`] = round(cosine(out, first.text.out), 6);
      }
    }
  }

  const samples = Object.fromEntries(runners.map((r) => [r.name, { image: [], textShort: [], text77: [] }]));
  // CPU time of all the process's threads over wall time, per call: about the thread count when
  // a runtime really computes on its worker threads (spin-waiting counts too).
  const busy = Object.fromEntries(runners.map((r) => [r.name, { image: [], textShort: [], text77: [] }]));
  const round_ = async (record) => {
    for (const op of OPS) {
      for (const runner of runners) {
        if (!runner[op]) continue;
        await sleep(task.gapMs); // lets the previous runtime's threads go idle
        const cpu = process.cpuUsage();
        const start = performance.now();
        await runner[op](op === 'image' ? pixels : tokens);
        const wall = performance.now() - start;
        if (!record) continue;
        const { user, system } = process.cpuUsage(cpu);
        samples[runner.name][op].push(wall);
        busy[runner.name][op].push((user + system) / 1000 / wall);
      }
    }
  };
  for (let i = 0; i < task.warmup; i++) await round_(false);
  const timedStart = performance.now();
  const cpuBefore = cpuSnapshot();
  for (let i = 0; i < task.iterations; i++) await round_(true);
  result.otherCores = otherCores(cpuBefore, cpuSnapshot());
  result.timedSeconds = round((performance.now() - timedStart) / 1000, 1);

  for (const runner of runners) {
    const r = result.runners[runner.name];
    for (const op of OPS) {
      if (!samples[runner.name][op].length) continue;
      r[op] = summary(samples[runner.name][op]);
      r[op].cpuPerWall = round(median(busy[runner.name][op]));
    }
    const heap = runner.wasmHeap();
    if (heap) r.wasmHeap = heap;
    if (isOurs(runner.runtime)) r.info = runner.info();
  }
  result.memory = memoryNow();
  result.threadsAtEnd = processThreads();
  result.loadavgEnd = loadAverage();
  for (const runner of runners) await runner.dispose();
  return result;
}

async function load(task) {
  const { runtime, dtype, threads, paths } = task;
  const result = { runtime, dtype, threads, loadavgStart: loadAverage(), threadsBefore: processThreads() };
  const cpuBefore = cpuSnapshot();
  result.memoryBefore = memoryNow();
  if (isOurs(runtime)) {
    const { ms, build, processThreadsReady } = await oursStartup(runtime, threads, paths.packageDir);
    Object.assign(result, { startupMs: round(ms), build, threadsAfterStartup: processThreadsReady });
  } else {
    result.startupMs = round(await ortStartup(runtime, threads, paths.onnxDir));
    result.threadsAfterStartup = processThreads();
  }
  const runner = makeRunner(runtime, dtype, threads, paths);
  const loaded = await runner.load();
  result.loadMs = round(loaded.ms);
  result.loadParts = Object.fromEntries(Object.entries(loaded.parts).map(([k, v]) => [k, round(v)]));
  result.memoryAfterLoad = memoryNow();
  result.wasmHeapAfterLoad = runner.wasmHeap();

  // First calls (one-time work such as tier-up shows here), then the peak after both towers ran.
  const { pixels } = pixelsAndReference(paths.modelDir);
  let start = performance.now();
  await runner.image(pixels);
  result.firstImageMs = round(performance.now() - start);
  start = performance.now();
  await runner.textShort(TEXT_IDS);
  result.firstTextMs = round(performance.now() - start);
  result.memoryPeak = memoryNow();
  result.wasmHeapPeak = runner.wasmHeap();
  if (isOurs(runtime)) result.weightBytes = runner.info().weightBytes;
  result.threadsAtEnd = processThreads();
  result.loadavgEnd = loadAverage();
  result.otherCores = otherCores(cpuBefore, cpuSnapshot());
  await runner.dispose();
  return result;
}

// What reading the weights costs before any runtime does anything with them: the f32 file read
// (16 MB at a time, from the page cache) into fresh WebAssembly memory, then into memory already
// touched. The difference is the operating system handing out fresh pages, which every runtime
// pays for the memory its weights end up in. Also fresh, as our loader reads large tensors: 4 MB
// pieces, `parallel` reads at a time on Node's I/O threads (one more than cores, at most 4).
async function floor(task) {
  const file = join(task.paths.modelDir, 'model.safetensors');
  const chunk = 16 << 20;
  const read = (memory, fresh) => {
    const fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    const start = performance.now();
    for (let at = 0; at < size; ) {
      const n = readSync(fd, new Uint8Array(memory.buffer, fresh ? at : 0, chunk), 0, chunk, at);
      if (n === 0) break;
      at += n;
    }
    const ms = performance.now() - start;
    closeSync(fd);
    return { ms, size };
  };
  const pages = (bytes) => Math.ceil((bytes + chunk) / 65536);
  const size = statSync(file).size;
  const freshRead = read(new WebAssembly.Memory({ initial: pages(size), maximum: pages(size) }), true);
  const touched = new WebAssembly.Memory({ initial: pages(0), maximum: pages(0) });
  read(touched, false);
  const touchedRead = read(touched, false);

  const parallel = Math.min(4, 1 + availableParallelism()); // as js/src/sources.mjs
  const piece = 4 << 20;
  const memory = new WebAssembly.Memory({ initial: pages(size), maximum: pages(size) });
  const handle = await open(file, 'r');
  const start = performance.now();
  let next = 0;
  const lane = async () => {
    for (let at; (at = next) < size; ) {
      next += piece;
      await handle.read(new Uint8Array(memory.buffer, at, Math.min(piece, size - at)), 0, Math.min(piece, size - at), at);
    }
  };
  await Promise.all(Array.from({ length: parallel }, lane));
  const freshParallelMs = performance.now() - start;
  await handle.close();
  return { kind: 'floor', bytes: size, freshMs: freshRead.ms, touchedMs: touchedRead.ms, parallel, freshParallelMs };
}

const task = JSON.parse(process.argv[2]);
try {
  const result = await { latency, load, floor }[task.kind](task);
  result.warnings = warnings;
  process.send({ ok: true, result }, () => process.exit(0));
} catch (error) {
  process.send({ ok: false, error: error.stack ?? String(error), warnings }, () => process.exit(1));
}

// Small helpers of the benchmark: statistics, process figures, a safetensors reader, model FLOPs.

import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  return sorted[lo] + (sorted[Math.min(lo + 1, sorted.length - 1)] - sorted[lo]) * (at - lo);
}

export const median = (values) => quantile(values, 0.5);

export function summary(samples) {
  return {
    median: round(median(samples)),
    p10: round(quantile(samples, 0.1)),
    p90: round(quantile(samples, 0.9)),
    min: round(Math.min(...samples)),
    n: samples.length,
    samples: samples.map(round),
  };
}

export const round = (x, digits = 2) => (Number.isFinite(x) ? +x.toFixed(digits) : null);

export function cosine(a, b) {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

// Threads of this process as the kernel counts them: onnxruntime-web's and our worker threads show.
export function processThreads() {
  try {
    return +/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1];
  } catch {
    return null;
  }
}

export function memoryNow() {
  return { rss: process.memoryUsage().rss, maxRss: process.resourceUsage().maxRSS * 1024 };
}

export const loadAverage = () => loadavg().map((x) => round(x));

// Busy and total CPU time of the whole machine (/proc/stat, in clock ticks of 10 ms) and this
// process's own CPU time: their difference over an interval is what other processes took.
export function cpuSnapshot() {
  let machine = null;
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    machine = { busy: total - fields[3] - fields[4], total }; // less idle and iowait
  } catch {
    // not Linux: no figure
  }
  const own = process.cpuUsage();
  return { machine, ownTicks: (own.user + own.system) / 1e4, cores: cpus().length };
}

// Cores' worth of CPU that other processes used between two snapshots.
export function otherCores(before, after) {
  if (!before.machine || !after.machine) return null;
  const elapsed = (after.machine.total - before.machine.total) / before.cores;
  const others = after.machine.busy - before.machine.busy - (after.ownTicks - before.ownTicks);
  return elapsed > 0 ? round(Math.max(0, others) / elapsed) : null;
}

// Reads F32 tensors from a safetensors file (8-byte little-endian header length, JSON header,
// data). Hand-written: these few lines need no dependency.
export function readSafetensors(path) {
  const bytes = readFileSync(path);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  const tensors = {};
  for (const [name, { dtype, shape, data_offsets: [begin, end] }] of Object.entries(header)) {
    if (name === '__metadata__' || dtype !== 'F32') continue;
    const data = new Float32Array((end - begin) / 4);
    new Uint8Array(data.buffer).set(bytes.subarray(8 + headerLength + begin, 8 + headerLength + end));
    tensors[name] = { shape, data };
  }
  return tensors;
}

// Multiply-adds x 2 of a CLIP transformer tower over `tokens` tokens: per layer the q, k, v and
// output projections (4 d^2), the MLP (2 d m) per token, and attention scores + weighted sum (2 n^2 d).
function towerFlops(tokens, width, mlp, layers) {
  return 2 * layers * (tokens * (4 * width * width + 2 * width * mlp) + 2 * tokens * tokens * width);
}

// ViT-B/32 (OpenAI CLIP): 8.82 GFLOPs per image, ~75 MFLOPs per text token.
export const VIT_B_32 = {
  imageFlops() {
    const patches = (224 / 32) ** 2;
    return 2 * patches * 3 * 32 * 32 * 768 + towerFlops(patches + 1, 768, 3072, 12) + 2 * 768 * 512;
  },
  // What clip-wasm leaves out: its last block computes the class token's row alone (the only
  // one the embedding reads), so the other 49 rows skip their query, output projection, MLP and
  // attention there.
  imageFlopsSkipped() {
    const rows = (224 / 32) ** 2;
    return 2 * rows * (2 * 768 * 768 + 2 * 768 * 3072) + 4 * rows * (rows + 1) * 768;
  },
  textFlops(tokens) {
    return towerFlops(tokens, 512, 2048, 12) + 2 * 512 * 512;
  },
};

// Runs bench/wasm-probe's module (built by bench/wasm-probe/run.sh) and reads its tables: the
// SIMD128 f32x4 mul+add peak at 1 and 2 threads, clip::Linear GEMM speeds at CLIP's shapes
// (f32 with SIMD128 multiply-then-add, f32fma with relaxed SIMD's fused multiply-add, q8), and
// the f32 microkernels alone with their weights in L2, one thread.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const PEAK = /peak f32x4 mul\+add: 1 thread ([\d.]+) GFLOP\/s, 2 threads ([\d.]+) GFLOP\/s/;
const ROW = /^(\d+)x(\d+)x(\d+)\s+(f32|f32fma|q8)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$/;
const KERNEL = /^(\d+x\d+)\s+(f32|f32fma)\s+([\d.]+)\s+[\d.]+\s*$/;

export function parseProbe(text) {
  const peak = PEAK.exec(text);
  if (!peak) throw new Error(`wasm probe: no peak line in its output:\n${text}`);
  const peak1 = +peak[1];
  const peak2 = +peak[2];
  const gemm = [];
  const kernels = [];
  for (const line of text.split('\n')) {
    const m = ROW.exec(line.trim());
    if (m) {
      const [rows, inner, outer] = [m[1], m[2], m[3]].map(Number);
      const [gflops1, gflops2] = [+m[5], +m[6]];
      const ofPeak1 = +(gflops1 / peak1).toFixed(3);
      const ofPeak2 = +(gflops2 / peak2).toFixed(3);
      gemm.push({ rows, in: inner, out: outer, format: m[4], gflops1, gflops2, ofPeak1, ofPeak2 });
      continue;
    }
    const k = KERNEL.exec(line.trim());
    if (k) kernels.push({ tile: k[1], format: k[2], gflops1: +k[3], ofPeak1: +(+k[3] / peak1).toFixed(3) });
  }
  return { peakGflops: { 1: peak1, 2: peak2 }, gemm, kernels };
}

export function runProbe(path, timeoutMs = 120000) {
  if (!existsSync(path)) return Promise.resolve({ skipped: `${path} not found (build it with bench/wasm-probe/run.sh)` });
  return new Promise((resolve, reject) => {
    // Emscripten 3.1.6 output calls fetch() on a file path under Node 18+ (TOOLCHAIN.md).
    const child = spawn(process.execPath, ['--no-experimental-fetch', '--experimental-wasm-relaxed-simd', path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill(), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`wasm probe exited ${code}: ${err || out}`));
      try {
        resolve({ ...parseProbe(out), path, output: out });
      } catch (error) {
        reject(error);
      }
    });
  });
}

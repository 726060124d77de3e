// Ratios, the issue's targets, and the printed tables (Markdown) of a results object.
import { round, VIT_B_32 } from './util.mjs';

const MB = 1e6;
const mb = (bytes) => (bytes == null ? '-' : (bytes / MB).toFixed(1));
const ms = (x) => (x == null ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const times = (x) => (x == null ? '-' : `${x.toFixed(2)}x`);

function latencyOf(results, threads, runner, op) {
  return results.latency?.[threads]?.runners?.[runner]?.[op]?.median ?? null;
}

function loadOf(results, runtime, dtype, threads) {
  return results.load?.configs?.find((c) => c.runtime === runtime && c.dtype === dtype && c.threads === threads) ?? null;
}

const ratio = (slow, fast) => (slow != null && fast != null ? round(slow / fast, 3) : null);

// Each target: a measured value, its bound, and whether it is met (null: not measured).
export function evaluate(results) {
  const targets = [];
  const add = (name, value, bound, met) => targets.push({ name, value, bound, met: value == null ? null : met });
  const ratios = {};
  for (const threads of results.args.threads) {
    const L = (runner, op) => latencyOf(results, threads, runner, op);
    const r = {
      imageF32VsOrtWebF32: ratio(L('ort-web f32', 'image'), L('ours f32', 'image')),
      imageQ8VsOrtWebF32: ratio(L('ort-web f32', 'image'), L('ours q8', 'image')),
      imageQ8VsOrtWebQ8: ratio(L('ort-web q8', 'image'), L('ours q8', 'image')),
      textShortF32VsOrtWebDynamic: ratio(L('ort-web f32', 'textShort'), L('ours f32', 'textShort')),
      textShortF32VsOrtWeb77: ratio(L('ort-web f32', 'text77'), L('ours f32', 'textShort')),
      textShortQ8VsOrtWebQ8Dynamic: ratio(L('ort-web q8', 'textShort'), L('ours q8', 'textShort')),
      textShortQ8VsOrtWebQ8_77: ratio(L('ort-web q8', 'text77'), L('ours q8', 'textShort')),
      imageF32VsOrtNodeF32: ratio(L('ort-node f32', 'image'), L('ours f32', 'image')),
      imageQ8VsOrtNodeQ8: ratio(L('ort-node q8', 'image'), L('ours q8', 'image')),
      textShortF32VsOrtNodeDynamic: ratio(L('ort-node f32', 'textShort'), L('ours f32', 'textShort')),
    };
    const loadOurs = loadOf(results, 'ours', 'f32', threads)?.loadMs;
    const loadWeb = loadOf(results, 'ort-web', 'f32', threads)?.loadMs;
    r.loadF32VsOrtWeb = ratio(loadWeb, loadOurs);
    r.loadQ8VsOrtWebQ8 = ratio(loadOf(results, 'ort-web', 'q8', threads)?.loadMs, loadOf(results, 'ours', 'q8', threads)?.loadMs);
    ratios[threads] = r;
    const t = `${threads} thread${threads > 1 ? 's' : ''}`;
    add(`image f32 vs ort-web f32, ${t}`, r.imageF32VsOrtWebF32, '>= 1.5x', r.imageF32VsOrtWebF32 >= 1.5);
    add(`image q8 vs ort-web f32, ${t}`, r.imageQ8VsOrtWebF32, '>= 2x', r.imageQ8VsOrtWebF32 >= 2);
    add(`image q8 vs ort-web int8, ${t}`, r.imageQ8VsOrtWebQ8, '>= 1.3x', r.imageQ8VsOrtWebQ8 >= 1.3);
    add(`short text vs ort-web dynamic, ${t}`, r.textShortF32VsOrtWebDynamic, '>= 1.5x', r.textShortF32VsOrtWebDynamic >= 1.5);
    add(`short text vs ort-web 77 tokens, ${t}`, r.textShortF32VsOrtWeb77, '>= 4x', r.textShortF32VsOrtWeb77 >= 4);
    add(`load vs ort-web session creation, ${t}`, r.loadF32VsOrtWeb, '>= 5x', r.loadF32VsOrtWeb >= 5);
    const startup = loadOf(results, 'ours', 'f32', threads)?.startupMs;
    add(`start-up, ${t}`, startup ?? null, '<= 100 ms', startup <= 100);
  }
  // GEMMs on the 768-wide shapes (image tower), the worst of the three.
  for (const format of ['f32', 'f32fma']) {
    const wide = (results.probe?.gemm ?? []).filter((g) => g.format === format && g.rows === 50);
    const worst = (f) => (wide.length ? Math.min(...wide.map(f)) : null);
    const ofPeak = worst((g) => g.ofPeak1);
    const scaling = worst((g) => g.gflops2 / g.gflops1);
    add(`${format} GEMM 768-wide, 1 thread, of SIMD128 mul+add peak`, ofPeak, '>= 0.85', ofPeak >= 0.85);
    add(`${format} GEMM 768-wide, 2 threads over 1`, scaling == null ? null : round(scaling, 2), '>= 1.8x', scaling >= 1.8);
  }
  const f32Weights = results.weights?.f32WeightBytes;
  for (const dtype of ['f32', 'q8']) {
    const heaps = (results.load?.configs ?? []).filter((c) => c.runtime === 'ours' && c.dtype === dtype);
    const heap = heaps.length ? Math.max(...heaps.map((c) => c.wasmHeapPeak)) : null;
    const bound = dtype === 'f32' ? 1.15 * f32Weights + 64 * MB : 220 * MB;
    add(`peak wasm heap ${dtype} (MB)`, heap == null ? null : round(heap / MB, 1), `<= ${mb(bound)}`, heap <= bound);
  }
  return { ratios, targets };
}

export function tables(results) {
  const lines = [];
  const out = (s = '') => lines.push(s);
  const { ratios, targets } = results.evaluation;
  const tokens = results.latency?.[results.args.threads[0]]?.tokens?.length ?? 8;
  out(`Model: ViT-B/32 shapes, random weights (${results.meta.model}). Image ${(VIT_B_32.imageFlops() / 1e9).toFixed(2)} GFLOPs`);
  out(`(the GFLOP/s columns divide this by the time; ours computes ${((VIT_B_32.imageFlops() - VIT_B_32.imageFlopsSkipped()) / 1e9).toFixed(2)} of them: its last block runs the class token alone);`);
  out(`text "${results.meta.text}" = ${tokens} tokens (${(VIT_B_32.textFlops(tokens) / 1e9).toFixed(2)} GFLOPs), 77 tokens ${(VIT_B_32.textFlops(77) / 1e9).toFixed(2)} GFLOPs.`);
  const code = results.meta.code;
  if (code) out(`Code: commit ${code.commit?.slice(0, 10)} (${code.changedSourceFiles} changed source files in the working tree), wasm sha256 ${Object.values(code.wasmSha256).join(' / ')}.`);
  out(`Medians of ${results.args.iterations} alternating runs after ${results.args.warmup} warm-up; load/start-up: median of ${results.args.loadRepeats} fresh processes.`);
  for (const threads of results.args.threads) {
    const lat = results.latency?.[threads];
    const loads = (results.load?.configs ?? []).filter((c) => c.threads === threads);
    if (!lat && !loads.length) continue;
    const names = lat ? Object.keys(lat.runners) : loads.map((c) => `${c.runtime} ${c.dtype}`);
    const peak = results.probe?.peakGflops?.[threads];
    out();
    out(`### ${threads} thread${threads > 1 ? 's' : ''}` + (lat ? ` (load average ${lat.loadavgStart.join(' ')} -> ${lat.loadavgEnd.join(' ')})` : ''));
    out();
    out(`| runtime | image ms | image GFLOP/s${peak ? ' (of peak)' : ''} | CPU/wall | short text ms | text 77 ms | load ms | start-up ms | peak RSS MB | wasm heap MB |`);
    out('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const name of names) {
      const r = lat?.runners[name] ?? {};
      const [runtime, dtype] = name.split(' ');
      const load = results.load?.configs?.find((c) => c.runtime === runtime && c.dtype === dtype && c.threads === threads);
      const image = r.image?.median;
      const gflops = image ? VIT_B_32.imageFlops() / 1e6 / image : null;
      const ofPeak = gflops && peak && runtime !== 'ort-node' ? ` (${((100 * gflops) / peak).toFixed(0)}%)` : '';
      out(
        `| ${name} | ${ms(image)} | ${gflops ? gflops.toFixed(1) : '-'}${ofPeak} | ${r.image?.cpuPerWall ?? '-'} | ` +
          `${ms(r.textShort?.median)} | ${ms(r.text77?.median)} | ` +
          `${ms(load?.loadMs)} | ${ms(load?.startupMs)} | ${mb(load?.rssPeak)} | ` +
          `${load?.wasmHeapPeak ? `${mb(load.wasmHeapPeak)} (${mb(load.wasmHeapUsedPeak)} used)` : '-'} |`,
      );
    }
    const r = ratios[threads];
    if (!lat) continue;
    out();
    out(
      `Process threads: ${lat.threadsBefore} before loading, ${lat.threadsAfterLoad} with every runner loaded` +
        (lat.ortWebNumThreads ? `; ort-web env.wasm.numThreads = ${lat.ortWebNumThreads}` : '') +
        (lat.warnings.length ? `; warnings: ${lat.warnings.join(' / ')}` : '; no warnings') +
        '. CPU/wall: CPU time of all threads over wall time during the image call (median).' +
        ` Other processes used ${lat.otherCores ?? '?'} of ${results.meta.cores} cores during the timed rounds.`,
    );
    out(
      `ours vs ort-web (${threads}t): image f32 ${times(r.imageF32VsOrtWebF32)}, q8 vs its f32 ${times(r.imageQ8VsOrtWebF32)}, ` +
        `q8 vs its int8 ${times(r.imageQ8VsOrtWebQ8)}; short text ${times(r.textShortF32VsOrtWebDynamic)} ` +
        `(vs its 77-token model ${times(r.textShortF32VsOrtWeb77)}); load ${times(r.loadF32VsOrtWeb)}.`,
    );
  }
  const floor = results.load?.floor;
  if (floor) {
    out();
    out(
      `Reading model.safetensors (${mb(floor.bytes)} MB, page cache, 16 MB reads) into fresh wasm memory takes ` +
        `${ms(floor.freshMs)} ms, into memory already touched ${ms(floor.touchedMs)} ms (median of ${results.args.loadRepeats} ` +
        'fresh processes): the difference is the operating system handing out fresh pages, which every load pays for ' +
        `the memory its weights end up in. Read into fresh memory as our loader reads large tensors, 4 MB pieces ` +
        `${floor.parallel} at a time: ${ms(floor.freshParallelMs)} ms.`,
    );
  }
  if (results.probe?.peakGflops) {
    const p = results.probe;
    out();
    out(`### SIMD128 peak and GEMMs (bench/wasm-probe, our kernels; independent f32x4 mul+add peak ${p.peakGflops[1]} / ${p.peakGflops[2]} GFLOP/s at 1 / 2 threads)`);
    out();
    out('| rows x in x out | weights | 1t GFLOP/s | of peak | 2t GFLOP/s | of peak |');
    out('|---|---|---:|---:|---:|---:|');
    for (const g of p.gemm) {
      out(`| ${g.rows}x${g.in}x${g.out} | ${g.format} | ${g.gflops1} | ${(100 * g.ofPeak1).toFixed(0)}% | ${g.gflops2} | ${(100 * g.ofPeak2).toFixed(0)}% |`);
    }
    if (p.kernels?.length) {
      out();
      out('The f32 microkernels alone, one thread, 48x768x96 with the weights in L2 (the tiles Linear uses):');
      out();
      out('| tile | kernels | GFLOP/s | of peak |');
      out('|---|---|---:|---:|');
      for (const k of p.kernels) out(`| ${k.tile} | ${k.format} | ${k.gflops1} | ${(100 * k.ofPeak1).toFixed(0)}% |`);
    }
  }
  if (results.sizes) {
    out();
    out('### Sizes (bytes; gzip -9 in brackets)');
    out();
    out('| file | bytes | gzip |');
    out('|---|---:|---:|');
    for (const [name, s] of Object.entries(results.sizes)) out(`| ${name} | ${s.bytes} | ${s.gzip ?? '-'} |`);
  }
  out();
  out('### Targets');
  out();
  out('| target | measured | bound | met |');
  out('|---|---:|---|---|');
  for (const t of targets) out(`| ${t.name} | ${t.value ?? '-'} | ${t.bound} | ${t.met == null ? 'not measured' : t.met ? 'yes' : 'NO'} |`);
  return lines.join('\n');
}

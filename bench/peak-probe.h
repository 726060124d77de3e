// The machine's SIMD128 arithmetic peak: independent f32x4 multiply-then-add chains, the same
// instruction mix as a GEMM inner loop without the loads. Kernel speeds are reported as a
// fraction of it. Header-only so the native benchmark and the standalone wasm probe share it.
#pragma once

#include <algorithm>
#include <chrono>

#include "kernels/simd.h"
#include "thread-pool.h"

namespace clip::bench {

// `Chains` accumulators, each acc = acc * m + a per iteration. Enough chains hide the mul + add
// latency; too many spill (a wasm engine has 15 vector registers on x86-64), so several counts
// are tried and the best is the peak.
template <int Chains>
float f32x4_mul_add_chains(long iterations, float m, float a) {
  v128_t acc[Chains];
  for (int i = 0; i < Chains; ++i) acc[i] = wasm_f32x4_splat(1.f + 0.01f * i);
  const v128_t vm = wasm_f32x4_splat(m), va = wasm_f32x4_splat(a);
  for (long t = 0; t < iterations; ++t) {
    for (int i = 0; i < Chains; ++i) acc[i] = wasm_f32x4_add(wasm_f32x4_mul(acc[i], vm), va);
  }
  v128_t sum = acc[0];
  for (int i = 1; i < Chains; ++i) sum = wasm_f32x4_add(sum, acc[i]);
  return wasm_f32x4_extract_lane(sum, 0);
}

namespace detail {

inline volatile float peak_sink;

// Best GFLOP/s of one chain count, all of the pool's threads running it at once. Many short
// calls: a wasm engine only optimizes a function between calls.
template <int Chains>
double peak_of(ThreadPool& pool, int calls) {
  constexpr long kIterations = 20000;
  const double gflop = pool.size() * kIterations * Chains * 8.0 * 1e-9;
  double best = 0;
  for (int i = 0; i < calls; ++i) {
    const auto start = std::chrono::steady_clock::now();
    parallel_for(&pool, pool.size(), [](size_t) {
      peak_sink = peak_sink + f32x4_mul_add_chains<Chains>(kIterations, 0.9999f, 1e-4f);
    });
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    best = std::max(best, gflop / took.count());
  }
  return best;
}

}  // namespace detail

// Peak GFLOP/s of the pool's threads together: the best over 10..14 chains.
inline double measure_peak_gflops(ThreadPool& pool, int calls = 300) {
  return std::max({detail::peak_of<10>(pool, calls), detail::peak_of<11>(pool, calls),
                   detail::peak_of<12>(pool, calls), detail::peak_of<13>(pool, calls),
                   detail::peak_of<14>(pool, calls)});
}

}  // namespace clip::bench

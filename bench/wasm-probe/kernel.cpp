// Standalone wasm probe of the f32 GEMM microkernels alone, outside clip::Linear: each tile height
// over 48 input rows x 768 deep x 96 outputs, whose packed weights (295 KB) stay in a core's L2
// from call to call. Set beside the probe's Linear figures, the difference is what Linear's tiling
// and the weights' trips from L3 or memory cost. Build and run with
// bench/wasm-probe/run.sh OUTDIR kernel.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "../peak-probe.h"
#include "kernels/kernels.h"
#include "thread-pool.h"

namespace {

constexpr size_t kRows = 48, kDepth = 768, kOutputs = 96;

// Best GFLOP/s of the mr-row kernel over the rows, one row tile after another, as Linear calls it.
double kernel_gflops(size_t mr) {
  using clip::kernels::f32_gemm_packed_size;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> weight(kOutputs * kDepth), x(kRows * kDepth), y(kRows * kOutputs);
  for (float& v : weight) v = dist(rng);
  for (float& v : x) v = dist(rng);
  std::vector<float> packed(f32_gemm_packed_size(kOutputs, kDepth));
  clip::kernels::pack_f32_gemm(kOutputs, kDepth, weight.data(), kDepth, nullptr, packed.data());
  const size_t tiles = kRows / mr;
  std::vector<float> a(tiles * mr * kDepth);
  for (size_t t = 0; t < tiles; ++t) {
    clip::kernels::pack_f32_gemm_rows(mr, kDepth, x.data() + t * mr * kDepth, kDepth,
                                      a.data() + t * mr * kDepth);
  }
  const clip::kernels::F32GemmKernel kernel = clip::kernels::f32_gemm_kernel(mr);
  const uint8_t nothing_ahead = 0;  // read again and again (step 0): no reading ahead
  const double gflop = 2.0 * tiles * mr * kDepth * kOutputs * 1e-9;
  double best = 0;
  for (int run = 0; run < 300; ++run) {  // the first runs also let the engine optimize
    const auto start = std::chrono::steady_clock::now();
    for (size_t t = 0; t < tiles; ++t) {
      kernel(kOutputs, kDepth, a.data() + t * mr * kDepth, packed.data(),
             y.data() + t * mr * kOutputs, kOutputs, clip::Activation::none, &nothing_ahead, 0);
    }
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    best = std::max(best, gflop / took.count());
  }
  return best;
}

void print_kernels(const char* label, double peak) {
  // The tiles Linear uses (rows 5 and 6 spill under V8, kernels.h).
  static const char* const tile_names[] = {"1x8", "2x16", "3x8", "4x8"};
  for (size_t mr = 1; mr <= 4; ++mr) {
    const double g = kernel_gflops(mr);
    std::printf("%-8s %-6s %10.1f %8.2f\n", tile_names[mr - 1], label, g, g / peak);
  }
}

}  // namespace

int main() {
  clip::ThreadPool one(1);
  const double peak = clip::bench::measure_peak_gflops(one);
  std::printf("peak f32x4 mul+add: 1 thread %.1f GFLOP/s\n", peak);
  std::printf("%-8s %-6s %10s %8s\n", "tile", "fmt", "GFLOP/s", "of peak");
  print_kernels("f32", peak);
  if (!clip::kernels::enable_relaxed_simd()) {
    std::printf("relaxed SIMD kernels failed their check\n");
    return 1;
  }
  print_kernels("f32fma", peak);
  return 0;
}

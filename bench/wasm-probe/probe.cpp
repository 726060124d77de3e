// Standalone wasm speed probe: the SIMD128 mul+add peak, clip::Linear GEMMs (f32 and q8 weights,
// 1 and 2 threads), and the f32 microkernels alone, under a real wasm engine. Build and run with
// bench/wasm-probe/run.sh. Best-of timings after a warm-up, so the engine's optimizing tier is
// what gets measured (kernels are separate functions called many times, which lets V8 tier up).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <random>
#include <vector>

#include "../peak-probe.h"
#include "kernels/kernels.h"
#include "ops.h"
#include "thread-pool.h"

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Best GFLOP/s of `fn` over `runs` calls, each doing `gflop` of work.
template <typename Fn>
double best_gflops(double gflop, int runs, const Fn& fn) {
  double best = 0;
  for (int i = 0; i < runs; ++i) {
    const double start = now();
    fn();
    best = std::max(best, gflop / (now() - start));
  }
  return best;
}

// n values uniform in [-1, 1), the same on every call.
std::vector<float> random_floats(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  return values;
}

double gemm(clip::ThreadPool& pool, int rows, int in, int out, clip::WeightFormat format) {
  const std::vector<float> w = random_floats(static_cast<size_t>(out) * in, 1),
                           x = random_floats(static_cast<size_t>(rows) * in, 2);
  std::vector<float> y(static_cast<size_t>(rows) * out);
  const clip::Linear linear(w.data(), nullptr, out, in, format);
  const double gflop = 2.0 * rows * in * out * 1e-9;
  auto run = [&] { linear.forward(x.data(), rows, y.data(), clip::Activation::none, &pool); };
  best_gflops(gflop, 30, run);
  return best_gflops(gflop, 60, run);
}

// The microkernels alone, outside Linear: 48 input rows x 768 deep x 96 outputs, whose packed
// weights (295 KB) stay in a core's L2 from call to call. Set beside Linear's figures, the
// difference is what Linear's tiling and the weights' trips from L3 or memory cost.
constexpr size_t kRows = 48, kDepth = 768, kOutputs = 96;

// Best GFLOP/s of the mr-row kernel over the rows, one row tile after another, as Linear calls it.
double kernel_gflops(size_t mr) {
  const std::vector<float> weight = random_floats(kOutputs * kDepth, 1),
                           x = random_floats(kRows * kDepth, 2);
  std::vector<float> packed(clip::kernels::f32_gemm_packed_size(kOutputs, kDepth));
  clip::kernels::pack_f32_gemm(kOutputs, kDepth, weight.data(), kDepth, nullptr, packed.data());
  const size_t tiles = kRows / mr;
  std::vector<float> a(tiles * mr * kDepth), y(kRows * kOutputs);
  for (size_t t = 0; t < tiles; ++t) {
    clip::kernels::pack_f32_gemm_rows(mr, kDepth, x.data() + t * mr * kDepth, kDepth,
                                      a.data() + t * mr * kDepth);
  }
  const clip::kernels::F32GemmKernel kernel = clip::kernels::f32_gemm_kernel(mr);
  const uint8_t nothing_ahead = 0;  // read again and again (step 0): no reading ahead
  auto run = [&] {
    for (size_t t = 0; t < tiles; ++t) {
      kernel(kOutputs, kDepth, a.data() + t * mr * kDepth, packed.data(),
             y.data() + t * mr * kOutputs, kOutputs, clip::Activation::none, &nothing_ahead, 0);
    }
  };
  const double gflop = 2.0 * tiles * mr * kDepth * kOutputs * 1e-9;
  best_gflops(gflop, 100, run);
  return best_gflops(gflop, 200, run);
}

// GFLOP/s of each tile height Linear uses (5 and 6 rows spill under V8, kernels.h): 1x8, 2x16,
// 3x8, 4x8.
constexpr const char* kTileNames[] = {"1x8", "2x16", "3x8", "4x8"};
std::vector<double> kernels_alone() {
  std::vector<double> gflops;
  for (size_t mr = 1; mr <= std::size(kTileNames); ++mr) gflops.push_back(kernel_gflops(mr));
  return gflops;
}

}  // namespace

int main() {
  clip::ThreadPool one(1), two(2);
  const double peak1 = clip::bench::measure_peak_gflops(one),
               peak2 = clip::bench::measure_peak_gflops(two);
  std::printf("peak f32x4 mul+add: 1 thread %.1f GFLOP/s, 2 threads %.1f GFLOP/s\n", peak1, peak2);
  struct Shape {
    int rows, in, out;
  };
  const Shape shapes[] = {{50, 768, 768}, {50, 768, 3072}, {50, 3072, 768}, {8, 512, 512},
                          {77, 512, 512}, {8, 512, 2048},  {77, 512, 2048}};
  std::printf("%-16s %-6s %10s %10s %8s %8s\n", "rows x in x out", "fmt", "1t GFLOP/s",
              "2t GFLOP/s", "1t/peak", "2t/1t");
  auto row = [&](const Shape& s, clip::WeightFormat format, const char* label) {
    const double g1 = gemm(one, s.rows, s.in, s.out, format);
    const double g2 = gemm(two, s.rows, s.in, s.out, format);
    char name[32];
    std::snprintf(name, sizeof name, "%dx%dx%d", s.rows, s.in, s.out);
    std::printf("%-16s %-6s %10.1f %10.1f %8.2f %8.2f\n", name, label, g1, g2, g1 / peak1, g2 / g1);
  };
  for (const Shape& s : shapes) {
    row(s, clip::WeightFormat::f32, "f32");
    row(s, clip::WeightFormat::q8, "q8");
  }
  const std::vector<double> plain = kernels_alone();  // before the fused kernels replace them
  // The same f32 products with relaxed SIMD's fused multiply-add (the package's default where
  // the engine has it).
  if (!clip::kernels::enable_relaxed_simd()) {
    std::printf("relaxed SIMD kernels failed their check\n");
    return 1;
  }
  for (const Shape& s : shapes) row(s, clip::WeightFormat::f32, "f32fma");
  const std::vector<double> fused = kernels_alone();
  std::printf("kernels alone, 1 thread (%zux%zux%zu, weights in L2)\n", kRows, kDepth, kOutputs);
  std::printf("%-16s %-6s %10s %8s\n", "tile", "fmt", "GFLOP/s", "of peak");
  for (size_t t = 0; t < std::size(kTileNames); ++t) {
    std::printf("%-16s %-6s %10.1f %8.2f\n", kTileNames[t], "f32", plain[t], plain[t] / peak1);
    std::printf("%-16s %-6s %10.1f %8.2f\n", kTileNames[t], "f32fma", fused[t], fused[t] / peak1);
  }
  return 0;
}

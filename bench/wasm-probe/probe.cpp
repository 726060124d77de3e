// Standalone wasm speed probe: the SIMD128 mul+add peak and clip::Linear GEMMs (f32 and q8
// weights, 1 and 2 threads) under a real wasm engine. Build and run with
// bench/wasm-probe/run.sh. Best-of timings after a warm-up, so the engine's optimizing tier is
// what gets measured (kernels are separate functions called many times, which lets V8 tier up).
#include <algorithm>
#include <chrono>
#include <cstdio>
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

double gemm(clip::ThreadPool& pool, int rows, int in, int out, clip::WeightFormat format) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> w(static_cast<size_t>(out) * in), x(static_cast<size_t>(rows) * in);
  for (float& v : w) v = dist(rng);
  for (float& v : x) v = dist(rng);
  std::vector<float> y(static_cast<size_t>(rows) * out);
  const clip::Linear linear(w.data(), nullptr, out, in, format);
  const double gflop = 2.0 * rows * in * out * 1e-9;
  auto run = [&] { linear.forward(x.data(), rows, y.data(), clip::Activation::none, &pool); };
  best_gflops(gflop, 30, run);
  return best_gflops(gflop, 60, run);
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
  // The same f32 products with relaxed SIMD's fused multiply-add (the package's default where
  // the engine has it).
  if (!clip::kernels::enable_relaxed_simd()) {
    std::printf("relaxed SIMD kernels failed their check\n");
    return 1;
  }
  for (const Shape& s : shapes) row(s, clip::WeightFormat::f32, "f32fma");
  return 0;
}

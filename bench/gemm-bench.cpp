// GEMM speed of clip::Linear (f32 and q8 weights) beside Debian's XNNPACK fully-connected
// operators, on the ViT-B/32 and text-tower shapes, with 1 and 2 threads. Every result carries
// GFLOP/s and, for ours, the fraction of the SIMD128 mul+add peak measured by the peak probe.
//
//   build-speed/bench/gemm-bench --benchmark_min_time=0.3
#include <benchmark/benchmark.h>
#include <pthreadpool.h>
#include <xnnpack.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "ops.h"
#include "peak-probe.h"
#include "thread-pool.h"

namespace {

struct Shape {
  int rows, in, out;
};

// Rows x in x out: ViT-B/32 (50 tokens) q/k/v/out, fc1, fc2; text tower (8 and 77 tokens).
const Shape kShapes[] = {{50, 768, 768}, {50, 768, 3072}, {50, 3072, 768}, {8, 512, 512},
                         {77, 512, 512}, {8, 512, 2048},  {77, 512, 2048}};
const int kThreads[] = {1, 2};

std::vector<float> random_floats(size_t count, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

// Single-thread peak in GFLOP/s, measured once.
double peak_gflops() {
  static const double peak = [] {
    clip::ThreadPool one(1);
    return clip::bench::measure_peak_gflops(one);
  }();
  return peak;
}

// Runs the benchmark loop, timing every iteration. The machine is shared, so besides the mean
// the fastest iteration is kept: it is the figure least disturbed by other processes.
struct LoopTimes {
  double mean = 0, best = 0;
};

template <typename Body>
LoopTimes run_timed(benchmark::State& state, const Body& body) {
  using clock = std::chrono::steady_clock;
  LoopTimes times{0, 1e30};
  const auto begin = clock::now();
  for (auto _ : state) {
    const auto start = clock::now();
    body();
    times.best = std::min(times.best, std::chrono::duration<double>(clock::now() - start).count());
  }
  times.mean = std::chrono::duration<double>(clock::now() - begin).count() /
               std::max<double>(1, static_cast<double>(state.iterations()));
  return times;
}

void add_gemm_counters(benchmark::State& state, const Shape& s, int threads, bool ours,
                       const LoopTimes& times) {
  const double gflop = 2.0 * s.rows * s.in * s.out * 1e-9;
  state.counters["GFLOPS"] = gflop / times.mean;
  state.counters["best_GFLOPS"] = gflop / times.best;
  if (ours) state.counters["best_of_peak"] = gflop / times.best / (peak_gflops() * threads);
}

// The peak probe itself as a benchmark: GFLOPS here is the best chain count's best run.
void bm_peak(benchmark::State& state, int threads) {
  clip::ThreadPool pool(threads);
  double gflops = 0;
  for (auto _ : state) gflops = std::max(gflops, clip::bench::measure_peak_gflops(pool, 20));
  state.counters["GFLOPS"] = gflops;
}

void bm_clip(benchmark::State& state, Shape s, int threads, clip::WeightFormat format) {
  const std::vector<float> w = random_floats(static_cast<size_t>(s.out) * s.in, 1);
  const std::vector<float> bias = random_floats(s.out, 2);
  const std::vector<float> x = random_floats(static_cast<size_t>(s.rows) * s.in, 3);
  std::vector<float> y(static_cast<size_t>(s.rows) * s.out);
  const clip::Linear linear(w.data(), bias.data(), s.out, s.in, format);
  clip::ThreadPool pool(threads);
  const LoopTimes times = run_timed(state, [&] {
    linear.forward(x.data(), s.rows, y.data(), clip::Activation::none, &pool);
    benchmark::DoNotOptimize(y.data());
  });
  add_gemm_counters(state, s, threads, true, times);
}

void bm_xnnpack_f32(benchmark::State& state, Shape s, int threads) {
  const std::vector<float> w = random_floats(static_cast<size_t>(s.out) * s.in, 1);
  const std::vector<float> bias = random_floats(s.out, 2);
  const std::vector<float> x = random_floats(static_cast<size_t>(s.rows) * s.in, 3);
  std::vector<float> y(static_cast<size_t>(s.rows) * s.out);
  pthreadpool_t pool = pthreadpool_create(threads);
  xnn_operator_t op = nullptr;
  if (xnn_create_fully_connected_nc_f32(
          s.in, s.out, s.in, s.out, w.data(), bias.data(), -std::numeric_limits<float>::infinity(),
          std::numeric_limits<float>::infinity(), 0, &op) != xnn_status_success ||
      xnn_setup_fully_connected_nc_f32(op, s.rows, x.data(), y.data(), pool) !=
          xnn_status_success) {
    state.SkipWithError("XNNPACK f32 fully-connected set-up failed");
  } else {
    const LoopTimes times = run_timed(state, [&] {
      xnn_run_operator(op, pool);
      benchmark::DoNotOptimize(y.data());
    });
    add_gemm_counters(state, s, threads, false, times);
  }
  xnn_delete_operator(op);
  pthreadpool_destroy(pool);
}

// XNNPACK's int8 x int8 operator (per-tensor scales): the nearest reference it has for q8.
void bm_xnnpack_qs8(benchmark::State& state, Shape s, int threads) {
  std::mt19937 rng(4);
  std::uniform_int_distribution<int> dist(-127, 127);
  std::vector<int8_t> w(static_cast<size_t>(s.out) * s.in), x(static_cast<size_t>(s.rows) * s.in);
  for (int8_t& v : w) v = static_cast<int8_t>(dist(rng));
  for (int8_t& v : x) v = static_cast<int8_t>(dist(rng));
  std::vector<int32_t> bias(s.out, 0);
  std::vector<int8_t> y(static_cast<size_t>(s.rows) * s.out);
  pthreadpool_t pool = pthreadpool_create(threads);
  xnn_operator_t op = nullptr;
  if (xnn_create_fully_connected_nc_qs8(s.in, s.out, s.in, s.out, 0, 0.02f, 0.01f, w.data(),
                                        bias.data(), 0, 1.f, -127, 127, 0,
                                        &op) != xnn_status_success ||
      xnn_setup_fully_connected_nc_qs8(op, s.rows, x.data(), y.data(), pool) !=
          xnn_status_success) {
    state.SkipWithError("XNNPACK qs8 fully-connected set-up failed");
  } else {
    const LoopTimes times = run_timed(state, [&] {
      xnn_run_operator(op, pool);
      benchmark::DoNotOptimize(y.data());
    });
    add_gemm_counters(state, s, threads, false, times);
  }
  xnn_delete_operator(op);
  pthreadpool_destroy(pool);
}

}  // namespace

int main(int argc, char** argv) {
  if (xnn_initialize(nullptr) != xnn_status_success) {
    std::fprintf(stderr, "xnn_initialize failed\n");
    return 1;
  }
  for (int threads : kThreads) {
    benchmark::RegisterBenchmark(("peak/f32x4-mul-add/threads:" + std::to_string(threads)).c_str(),
                                 bm_peak, threads)
        ->UseRealTime();
  }
  for (const Shape& s : kShapes) {
    const std::string shape =
        std::to_string(s.rows) + "x" + std::to_string(s.in) + "x" + std::to_string(s.out);
    for (int threads : kThreads) {
      const std::string suffix = "/" + shape + "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(("clip-f32" + suffix).c_str(), bm_clip, s, threads,
                                   clip::WeightFormat::f32)
          ->UseRealTime();
      benchmark::RegisterBenchmark(("xnnpack-f32" + suffix).c_str(), bm_xnnpack_f32, s, threads)
          ->UseRealTime();
      benchmark::RegisterBenchmark(("clip-q8" + suffix).c_str(), bm_clip, s, threads,
                                   clip::WeightFormat::q8)
          ->UseRealTime();
      benchmark::RegisterBenchmark(("xnnpack-qs8" + suffix).c_str(), bm_xnnpack_qs8, s, threads)
          ->UseRealTime();
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::printf("SIMD128 mul+add peak, 1 thread: %.1f GFLOP/s\n", peak_gflops());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  xnn_deinitialize();
  return 0;
}

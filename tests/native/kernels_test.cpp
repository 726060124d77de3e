// Every SIMD kernel against its scalar reference over an edge grid (k below, at and above the
// unroll, n off the 8-column panel, prime sizes, all tile heights, all activations), and the
// operators built on them against plain loops. Errors are normalized by the size of the terms
// that were summed, so one threshold holds for every shape.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common.h"
#include "kernels/kernels.h"
#include "model-loader.h"
#include "ops.h"
#include "test-support.h"
#include "thread-pool.h"

namespace clip {
namespace {

using kernels::kPanel;

const Activation kActivations[] = {Activation::none, Activation::quick_gelu, Activation::gelu};

std::vector<float> random_vector(size_t count, unsigned seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

double activate_ref(double x, Activation act) {
  switch (act) {
    case Activation::quick_gelu:
      return x / (1.0 + std::exp(-1.702 * x));
    case Activation::gelu:
      return 0.5 * x * std::erfc(-x / std::sqrt(2.0));  // erfc: no cancellation for x < 0
    case Activation::none:
      break;
  }
  return x;
}

// Worst |got - want| / magnitude over a run, with magnitude the sum of |terms| behind each value.
struct NormalizedError {
  double worst = 0.0;
  void add(double got, double want, double magnitude) {
    worst = std::max(worst, std::fabs(got - want) / std::max(magnitude, 1e-30));
  }
};

// f32 accumulation over a few thousand terms stays within ~1e-6 of the summed magnitude; an
// indexing or packing mistake shows up as an error of order 1.
constexpr double kF32Tolerance = 2e-6;

// ---- f32 GEMM ----

struct F32Case {
  size_t rows, n, k;
  std::vector<float> a, weight, bias, packed;
};

F32Case make_f32_case(size_t rows, size_t n, size_t k, unsigned seed) {
  F32Case c{rows,
            n,
            k,
            random_vector(rows * k, seed),
            random_vector(n * k, seed + 1),
            random_vector(n, seed + 2),
            {}};
  c.packed.resize(kernels::f32_gemm_packed_size(n, k));
  kernels::pack_f32_gemm(n, k, c.weight.data(), k, c.bias.data(), c.packed.data());
  return c;
}

// Both kernel sets, by tile height: SIMD128 and relaxed SIMD (natively the latter multiplies, then
// adds; the wasm build's fused version is checked against the references by the JS tests).
kernels::F32GemmKernel f32_kernel(bool relaxed, size_t tile) {
  static constexpr kernels::F32GemmKernel simd[] = {
      kernels::f32_gemm_1x8__wasmsimd, kernels::f32_gemm_2x16__wasmsimd,
      kernels::f32_gemm_3x8__wasmsimd, kernels::f32_gemm_4x8__wasmsimd,
      kernels::f32_gemm_5x8__wasmsimd, kernels::f32_gemm_6x8__wasmsimd};
  static constexpr kernels::F32GemmKernel relaxed_simd[] = {
      kernels::f32_gemm_1x8__wasmrelaxedsimd, kernels::f32_gemm_2x16__wasmrelaxedsimd,
      kernels::f32_gemm_3x8__wasmrelaxedsimd, kernels::f32_gemm_4x8__wasmrelaxedsimd,
      kernels::f32_gemm_5x8__wasmrelaxedsimd, kernels::f32_gemm_6x8__wasmrelaxedsimd};
  return (relaxed ? relaxed_simd : simd)[tile - 1];
}

TEST(F32Gemm, EnableRelaxedSimdChecksThenSwitchesKernels) {
  EXPECT_EQ(kernels::f32_gemm_kernel(4), kernels::f32_gemm_4x8__wasmsimd);
  ASSERT_TRUE(kernels::enable_relaxed_simd());
  for (size_t tile = 1; tile <= kernels::kGemmKernelRows; ++tile) {
    EXPECT_EQ(kernels::f32_gemm_kernel(tile), f32_kernel(true, tile));
  }
}

TEST(F32Gemm, EveryTileMatchesScalarOverEdgeGrid) {
  NormalizedError err;
  unsigned seed = 1;
  for (bool relaxed : {false, true}) {
    for (size_t k : {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 64, 97, 768}) {
      for (size_t n : {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 31, 64, 67}) {
        const F32Case c = make_f32_case(kernels::kGemmKernelRows, n, k, seed++);
        for (size_t mr = 1; mr <= kernels::kGemmKernelRows; ++mr) {
          std::vector<float> tile(mr * k);
          kernels::pack_f32_gemm_rows(mr, k, c.a.data(), k, tile.data());
          for (Activation act : kActivations) {
            // Guard columns past n catch stores outside the output.
            const size_t stride = n + 3;
            std::vector<float> got(mr * stride, 7.f), want(mr * stride, 7.f);
            // The reads ahead: 1 where a read may land (every 3rd byte, as many as documented),
            // 0 between, 100 past the end. Their sum counts them and catches a stray one.
            const size_t most_reads = kernels::gemm_panels(n) * ((k + 3) / 4), step = 3;
            std::vector<uint8_t> ahead(most_reads * step + 64, 100);
            for (size_t i = 0; i < most_reads * step; ++i) ahead[i] = i % step == 0;
            const uint32_t reads = f32_kernel(relaxed, mr)(
                n, k, tile.data(), c.packed.data(), got.data(), stride, act, ahead.data(), step);
            ASSERT_GE(reads, (k + 3) / 4) << "mr=" << mr << " n=" << n << " k=" << k;
            ASSERT_LE(reads, most_reads) << "mr=" << mr << " n=" << n << " k=" << k;
            kernels::f32_gemm__scalar(mr, n, k, c.a.data(), k, c.packed.data(), want.data(), stride,
                                      act);
            for (size_t r = 0; r < mr; ++r) {
              for (size_t j = 0; j < stride; ++j) {
                if (j >= n) {
                  ASSERT_EQ(got[r * stride + j], 7.f) << "store past n=" << n;
                  continue;
                }
                double magnitude = std::fabs(c.bias[j]);
                for (size_t i = 0; i < k; ++i) {
                  magnitude += std::fabs(double(c.a[r * k + i]) * c.weight[j * k + i]);
                }
                err.add(got[r * stride + j], want[r * stride + j], magnitude);
              }
            }
          }
        }
      }
    }
  }
  test::record_figure("kernels", "f32_gemm_max_normalized_error", err.worst);
  EXPECT_LT(err.worst, kF32Tolerance);
}

// The panels hold exactly what kernels.h documents, for full and partial panels and any k.
TEST(F32Gemm, PackedLayoutIsTheDocumentedOne) {
  for (size_t n : {1, 7, 8, 9, 16, 17, 24}) {
    for (size_t k : {1, 3, 4, 5, 8, 13, 768}) {
      const size_t stride = k + 2;
      const std::vector<float> w = random_vector(n * stride, static_cast<unsigned>(n * 1000 + k));
      const std::vector<float> bias = random_vector(n, 3);
      std::vector<float> wt(k * (n + 1));  // the same weight as [k, n], row stride n + 1
      for (size_t c = 0; c < n; ++c) {
        for (size_t i = 0; i < k; ++i) wt[i * (n + 1) + c] = w[c * stride + i];
      }
      std::vector<float> packed(kernels::f32_gemm_packed_size(n, k), 99.f), packed_kn(packed);
      kernels::pack_f32_gemm(n, k, w.data(), stride, bias.data(), packed.data());
      kernels::pack_f32_gemm_kn(k, n, wt.data(), n + 1, bias.data(), packed_kn.data());
      for (size_t p = 0; p < kernels::gemm_panels(n); ++p) {
        const float* panel = packed.data() + p * kernels::kPanel * (1 + k);
        for (size_t j = 0; j < kernels::kPanel; ++j) {
          const size_t col = p * kernels::kPanel + j;
          ASSERT_EQ(panel[j], col < n ? bias[col] : 0.f) << "bias n=" << n << " k=" << k;
          for (size_t i = 0; i < k; ++i) {
            ASSERT_EQ(panel[kernels::kPanel * (1 + i) + j], col < n ? w[col * stride + i] : 0.f)
                << "n=" << n << " k=" << k << " col=" << col << " i=" << i;
          }
        }
      }
      EXPECT_EQ(packed, packed_kn) << "n=" << n << " k=" << k;
    }
  }
}

// An input tile interleaves its rows step by step of k, as kernels.h documents.
TEST(F32Gemm, InputTileLayoutIsTheDocumentedOne) {
  for (size_t mr = 1; mr <= kernels::kGemmKernelRows; ++mr) {
    for (size_t k : {1, 3, 8, 13}) {
      const size_t stride = k + 2;
      const std::vector<float> a = random_vector(mr * stride, static_cast<unsigned>(mr * 100 + k));
      std::vector<float> tile(mr * k + 1, 99.f);
      kernels::pack_f32_gemm_rows(mr, k, a.data(), stride, tile.data());
      for (size_t i = 0; i < k; ++i) {
        for (size_t r = 0; r < mr; ++r) ASSERT_EQ(tile[i * mr + r], a[r * stride + i]);
      }
      EXPECT_EQ(tile[mr * k], 99.f) << "write past the tile";
    }
  }
}

TEST(F32Gemm, PackingTransposedMatchesRowMajor) {
  const size_t n = 13, k = 11, stride = 17;
  const std::vector<float> w = random_vector(n * stride, 5);
  std::vector<float> wt(k * n + 3);  // [k, n] with row stride n + 0 (check stride via kn pack)
  std::vector<float> wt_strided(k * stride);
  for (size_t c = 0; c < n; ++c) {
    for (size_t i = 0; i < k; ++i) wt_strided[i * stride + c] = w[c * stride + i];
  }
  std::vector<float> a(kernels::f32_gemm_packed_size(n, k)), b(a.size());
  kernels::pack_f32_gemm(n, k, w.data(), stride, nullptr, a.data());
  kernels::pack_f32_gemm_kn(k, n, wt_strided.data(), stride, nullptr, b.data());
  EXPECT_EQ(a, b);
}

// ---- q8 GEMM ----

TEST(Q16Quantize, SimdMatchesScalarExactly) {
  for (size_t k : {1, 2, 3, 7, 8, 9, 15, 16, 17, 768, 3071}) {
    const size_t rows = 5, q_len = kernels::q16_row_length(k);
    std::vector<float> x = random_vector(rows * k, static_cast<unsigned>(k), -3.f, 3.f);
    std::fill(x.begin() + k, x.begin() + 2 * k, 0.f);  // an all-zero row
    x[3 * k + k / 2] = std::nanf("");                  // rows with a NaN and an infinity
    x[4 * k + k - 1] = -INFINITY;
    const int qmax = kernels::q16_max_for_depth(q_len);
    std::vector<int16_t> got(rows * q_len, 99), want(rows * q_len, 99);
    std::vector<float> got_scale(rows), want_scale(rows);
    kernels::quantize_rows_q16__wasmsimd(rows, k, x.data(), k, qmax, got.data(), got_scale.data());
    kernels::quantize_rows_q16__scalar(rows, k, x.data(), k, qmax, want.data(), want_scale.data());
    EXPECT_EQ(got, want) << "k=" << k;
    EXPECT_EQ(got_scale[1], 0.f);
    EXPECT_TRUE(std::isnan(got_scale[3]) && std::isnan(want_scale[3])) << "k=" << k;
    EXPECT_TRUE(std::isnan(got_scale[4]) && std::isnan(want_scale[4])) << "k=" << k;
    for (size_t r : {0, 1, 2}) EXPECT_EQ(got_scale[r], want_scale[r]) << "k=" << k;
    // Row r's value i, where kernels.h documents it: pairs of k interleaved by row.
    auto at = [&](size_t r, size_t i) { return got[((i / 2) * rows + r) * 2 + i % 2]; };
    for (size_t r = 0; r < rows; ++r) {
      if (k % 2) {
        EXPECT_EQ(at(r, k), 0) << "pad lane";
      }
      if (r >= 3) {  // non-finite rows are zeros
        for (size_t i = 0; i < k; ++i) ASSERT_EQ(at(r, i), 0) << "r=" << r << " i=" << i;
        continue;
      }
      for (size_t i = 0; i < k; ++i) {
        ASSERT_LE(std::abs(at(r, i)), qmax);
        ASSERT_LE(std::fabs(at(r, i) * got_scale[r] - x[r * k + i]), 0.51f * got_scale[r]);
      }
    }
  }
}

TEST(Q8Gemm, EveryTileMatchesScalarOverEdgeGrid) {
  NormalizedError err;
  unsigned seed = 100;
  for (size_t k : {1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 64, 97, 768}) {
    for (size_t n : {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 31, 64, 67}) {
      const size_t q_len = kernels::q16_row_length(k);
      const std::vector<float> x = random_vector(kernels::kGemmKernelRows * k, seed++);
      const std::vector<float> w = random_vector(n * k, seed++);
      const std::vector<float> bias = random_vector(n, seed++);
      std::vector<int8_t> packed(kernels::q8_gemm_packed_size(n, k));
      kernels::pack_q8_gemm(n, k, w.data(), bias.data(), packed.data());
      const int qmax = kernels::q16_max_for_depth(q_len);
      // The reference reads plain rows: each row quantized as a tile of its own.
      std::vector<int16_t> q_rows(kernels::kGemmKernelRows * q_len);
      std::vector<float> scale(kernels::kGemmKernelRows);
      for (size_t r = 0; r < kernels::kGemmKernelRows; ++r) {
        kernels::quantize_rows_q16__scalar(1, k, x.data() + r * k, k, qmax,
                                           q_rows.data() + r * q_len, scale.data() + r);
      }
      for (size_t mr = 1; mr <= kernels::kGemmKernelRows; ++mr) {
        std::vector<int16_t> tile(mr * q_len);
        std::vector<float> tile_scale(mr);
        kernels::quantize_rows_q16__scalar(mr, k, x.data(), k, qmax, tile.data(),
                                           tile_scale.data());
        for (Activation act : kActivations) {
          const size_t stride = n + 3;
          std::vector<float> got(mr * stride, 7.f), want(mr * stride, 7.f);
          kernels::q8_gemm_kernel(mr)(n, q_len, tile.data(), tile_scale.data(), packed.data(),
                                      got.data(), stride, act);
          kernels::q8_gemm__scalar(mr, n, q_len, q_rows.data(), q_len, scale.data(), packed.data(),
                                   want.data(), stride, act);
          for (size_t r = 0; r < mr; ++r) {
            for (size_t j = 0; j < stride; ++j) {
              if (j >= n) {
                ASSERT_EQ(got[r * stride + j], 7.f) << "store past n=" << n;
                continue;
              }
              // Integer sums are exact in both; only the epilogue's activation differs.
              err.add(got[r * stride + j], want[r * stride + j],
                      std::fabs(want[r * stride + j]) + 1e-3);
            }
          }
        }
      }
    }
  }
  test::record_figure("kernels", "q8_gemm_max_normalized_error", err.worst);
  EXPECT_LT(err.worst, kF32Tolerance);
}

// The panels hold exactly what kernels.h documents: per column scale = max|w| / 127 and
// round-half-even(w / scale), pairs of k interleaved by column, zero padding.
TEST(Q8Gemm, PackedLayoutIsTheDocumentedOne) {
  for (size_t n : {1, 7, 8, 9, 17}) {
    for (size_t k : {1, 2, 3, 5, 8, 13, 768}) {
      std::vector<float> w = random_vector(n * k, static_cast<unsigned>(n * 100 + k), -2.f, 2.f);
      if (n > 2) std::fill(w.begin() + k, w.begin() + 2 * k, 0.f);  // an all-zero column
      w[0] = 2.5f * std::fabs(w[0]) + 0.1f;                         // exact halves occur below
      const std::vector<float> bias = random_vector(n, 9);
      std::vector<int8_t> packed(kernels::q8_gemm_packed_size(n, k), 99);
      kernels::pack_q8_gemm(n, k, w.data(), bias.data(), packed.data());
      const size_t pairs = (k + 1) / 2, panel_bytes = kernels::q8_gemm_packed_size(8, k);
      for (size_t p = 0; p < kernels::gemm_panels(n); ++p) {
        const int8_t* panel = packed.data() + p * panel_bytes;
        float head[2 * kernels::kPanel];
        std::memcpy(head, panel, sizeof head);
        for (size_t j = 0; j < kernels::kPanel; ++j) {
          const size_t col = p * kernels::kPanel + j;
          float max_abs = 0.f;
          for (size_t i = 0; col < n && i < k; ++i)
            max_abs = std::max(max_abs, std::fabs(w[col * k + i]));
          const float scale = max_abs > 0.f ? max_abs / 127.f : 1.f;
          ASSERT_EQ(head[j], col < n ? bias[col] : 0.f);
          ASSERT_EQ(head[kernels::kPanel + j], scale) << "n=" << n << " k=" << k << " col=" << col;
          for (size_t i = 0; i < 2 * pairs; ++i) {
            const long want =
                col < n && i < k ? std::clamp(std::lrint(w[col * k + i] / scale), -127L, 127L) : 0;
            ASSERT_EQ(panel[sizeof head + (i / 2) * 2 * kernels::kPanel + 2 * j + i % 2], want)
                << "n=" << n << " k=" << k << " col=" << col << " i=" << i;
          }
        }
      }
    }
  }
}

TEST(Q8Gemm, WorstCaseDepthDoesNotOverflow) {
  // Every activation at +qmax and every weight at +127: the largest sum the kernel can see.
  for (size_t k : {768, 3072, 4097}) {
    const size_t q_len = kernels::q16_row_length(k), n = 8;
    const int qmax = kernels::q16_max_for_depth(q_len);
    std::vector<float> w(n * k, 1.f);
    std::vector<int8_t> packed(kernels::q8_gemm_packed_size(n, k));
    kernels::pack_q8_gemm(n, k, w.data(), nullptr, packed.data());
    std::vector<int16_t> q(q_len, static_cast<int16_t>(qmax));
    if (k % 2) q[k] = 0;
    const float scale = 1.f / static_cast<float>(qmax);
    std::vector<float> y(n);
    kernels::q8_gemm_1x8__wasmsimd(n, q_len, q.data(), &scale, packed.data(), y.data(), n,
                                   Activation::none);
    for (float v : y) EXPECT_NEAR(v, static_cast<double>(k), 1e-3 * k) << "k=" << k;
  }
}

// ---- operators against plain loops over the original f32 weights ----

void linear_reference(const std::vector<float>& x, size_t rows, const std::vector<float>& w,
                      const std::vector<float>& bias, size_t n, size_t k, Activation act,
                      std::vector<double>* y, std::vector<double>* magnitude) {
  y->assign(rows * n, 0.0);
  magnitude->assign(rows * n, 0.0);
  for (size_t r = 0; r < rows; ++r) {
    for (size_t j = 0; j < n; ++j) {
      double sum = bias[j], mag = std::fabs(bias[j]);
      for (size_t i = 0; i < k; ++i) {
        sum += double(x[r * k + i]) * w[j * k + i];
        mag += std::fabs(double(x[r * k + i]) * w[j * k + i]);
      }
      (*y)[r * n + j] = activate_ref(sum, act);
      (*magnitude)[r * n + j] = mag;
    }
  }
}

double cosine(const std::vector<float>& a, const std::vector<double>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += a[i] * b[i];
    na += double(a[i]) * a[i];
    nb += b[i] * b[i];
  }
  return dot / std::sqrt(na * nb);
}

TEST(LinearOp, F32AndQ8MatchReferenceForRows1To77WithAndWithoutThreads) {
  ThreadPool pool(2);
  NormalizedError f32_err;
  double q8_cos_min = 1.0;
  // The last shape is large enough for the pool to be used from about 9 rows on.
  for (auto [n, k] : {std::pair<size_t, size_t>{37, 29}, {8, 768}, {67, 64}, {203, 301}}) {
    const std::vector<float> w = random_vector(n * k, 7 + static_cast<unsigned>(n));
    const std::vector<float> bias = random_vector(n, 8);
    const Linear f32(w.data(), bias.data(), static_cast<int>(n), static_cast<int>(k),
                     WeightFormat::f32);
    const Linear q8(w.data(), bias.data(), static_cast<int>(n), static_cast<int>(k),
                    WeightFormat::q8);
    EXPECT_EQ(f32.packed_bytes(), kernels::f32_gemm_packed_size(n, k) * sizeof(float));
    EXPECT_LT(q8.packed_bytes(), f32.packed_bytes() / 3 + 64 * kernels::gemm_panels(n));
    for (size_t rows = 1; rows <= 77; rows += (rows < 14 ? 1 : 7)) {
      const std::vector<float> x = random_vector(rows * k, static_cast<unsigned>(rows));
      for (Activation act : kActivations) {
        std::vector<double> want, magnitude;
        linear_reference(x, rows, w, bias, n, k, act, &want, &magnitude);
        // Threads change who computes a tile, never how: results are bitwise the same.
        std::vector<float> f32_alone, q8_alone;
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
          std::vector<float> got(rows * n), got_q8(rows * n);
          f32.forward(x.data(), static_cast<int>(rows), got.data(), act, p);
          for (size_t i = 0; i < got.size(); ++i) f32_err.add(got[i], want[i], magnitude[i]);
          q8.forward(x.data(), static_cast<int>(rows), got_q8.data(), act, p);
          q8_cos_min = std::min(q8_cos_min, cosine(got_q8, want));
          if (!p) {
            f32_alone = got;
            q8_alone = got_q8;
          } else {
            ASSERT_EQ(got, f32_alone) << "rows=" << rows << " n=" << n;
            ASSERT_EQ(got_q8, q8_alone) << "rows=" << rows << " n=" << n;
          }
        }
      }
    }
  }
  test::record_figure("kernels", "linear_f32_max_normalized_error", f32_err.worst);
  test::record_figure("kernels", "linear_q8_min_cosine", q8_cos_min);
  EXPECT_LT(f32_err.worst, kF32Tolerance);
  EXPECT_GT(q8_cos_min, 0.999);
}

// A NaN or an infinity in an input row makes that row's outputs NaN in both formats (the q8 path
// quantizes rows, which would otherwise turn them into finite numbers), and no other row changes.
TEST(LinearOp, NonFiniteInputRowComesOutNaNInF32AndQ8) {
  const size_t n = 19, k = 40, rows = 6;
  const std::vector<float> w = random_vector(n * k, 3), bias = random_vector(n, 4);
  std::vector<float> x = random_vector(rows * k, 5);
  for (WeightFormat format : {WeightFormat::f32, WeightFormat::q8}) {
    const Linear linear(w.data(), bias.data(), static_cast<int>(n), static_cast<int>(k), format);
    std::vector<float> clean(rows * n), got(rows * n);
    linear.forward(x.data(), static_cast<int>(rows), clean.data(), Activation::quick_gelu, nullptr);
    for (float bad : {std::nanf(""), INFINITY}) {
      std::vector<float> dirty(x);
      dirty[2 * k + 7] = bad;
      linear.forward(dirty.data(), static_cast<int>(rows), got.data(), Activation::quick_gelu,
                     nullptr);
      for (size_t r = 0; r < rows; ++r) {
        for (size_t c = 0; c < n; ++c) {
          if (r == 2 && (format == WeightFormat::q8 || std::isnan(bad))) {
            EXPECT_TRUE(std::isnan(got[r * n + c])) << "c=" << c;
          } else if (r != 2) {
            EXPECT_EQ(got[r * n + c], clean[r * n + c]) << "r=" << r << " c=" << c;
          }
        }
      }
    }
  }
}

// Wide enough for several groups of column chunks, the last one partial, and at 50 rows for the
// tiles to read the next group's weights ahead: every output is written once, with and without
// threads (the sanitizer build checks that every read ahead stays inside the weights).
TEST(LinearOp, WideLayerCoversEveryColumn) {
  const size_t n = 5003, k = 40;
  const std::vector<float> w = random_vector(n * k, 21), bias = random_vector(n, 22);
  const Linear f32(w.data(), bias.data(), static_cast<int>(n), static_cast<int>(k),
                   WeightFormat::f32);
  ThreadPool pool(2);
  NormalizedError err;
  for (size_t rows : {1, 7, 50}) {
    const std::vector<float> x = random_vector(rows * k, static_cast<unsigned>(rows));
    std::vector<double> want, magnitude;
    linear_reference(x, rows, w, bias, n, k, Activation::none, &want, &magnitude);
    for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
      std::vector<float> got(rows * n, std::nanf(""));
      f32.forward(x.data(), static_cast<int>(rows), got.data(), Activation::none, p);
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_TRUE(std::isfinite(got[i])) << "output " << i << " never written";
        err.add(got[i], want[i], magnitude[i]);
      }
    }
  }
  EXPECT_LT(err.worst, kF32Tolerance);
}

// Packing inside the buffer the rows were read into gives the very weights packing from a copy
// gives: one run of panels or several (on the pool's threads or not), a partial last panel, and
// more panels than inputs (where a packed panel reaches past the next panel's rows).
TEST(LinearOp, PackingRowsInPlaceEqualsPackingACopy) {
  ThreadPool pool(2);
  for (auto [n, k] : {std::pair<size_t, size_t>{37, 29},
                      {300, 2048},
                      {1000, 600},
                      {1024, 1024},
                      {2050, 256},
                      {5003, 40},
                      {3, 7}}) {
    const std::vector<float> w = random_vector(n * k, 31 + static_cast<unsigned>(n));
    const std::vector<float> bias = random_vector(n, 32);
    const Linear copied(w.data(), bias.data(), static_cast<int>(n), static_cast<int>(k),
                        WeightFormat::f32);
    for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
      UninitializedVector<float> buffer(kernels::f32_gemm_packed_size(n, k));
      std::fill(buffer.begin(), buffer.end(), std::nanf(""));  // what follows the rows
      std::copy(w.begin(), w.end(), buffer.begin());
      const Linear in_place = Linear::pack_rows_in_place(
          std::move(buffer), bias.data(), static_cast<int>(n), static_cast<int>(k), p);
      EXPECT_EQ(in_place.packed_bytes(), copied.packed_bytes());
      for (size_t rows : {1, 5, 50}) {
        const std::vector<float> x = random_vector(rows * k, static_cast<unsigned>(rows));
        std::vector<float> want(rows * n), got(rows * n);
        copied.forward(x.data(), static_cast<int>(rows), want.data(), Activation::none, nullptr);
        in_place.forward(x.data(), static_cast<int>(rows), got.data(), Activation::none, nullptr);
        ASSERT_EQ(got, want) << "n=" << n << " k=" << k << " rows=" << rows
                             << (p ? " packed on the pool" : "");
      }
    }
  }
  UninitializedVector<float> short_buffer(10);
  EXPECT_THROW(Linear::pack_rows_in_place(std::move(short_buffer), nullptr, 2, 4), Error);
}

TEST(LinearOp, RejectsBadShapes) {
  const float w[4] = {1, 2, 3, 4};
  EXPECT_THROW(Linear bad(w, nullptr, 0, 4, WeightFormat::f32), Error);
  EXPECT_THROW(Linear bad(nullptr, nullptr, 1, 4, WeightFormat::q8), Error);
}

TEST(Activations, SimdMatchesScalarEverywhere) {
  std::vector<float> x;
  for (float v = -30.f; v <= 30.f; v += 0.0137f) x.push_back(v);
  for (float v : {0.f, -0.f, 1e-30f, -1e-30f, 88.f, -88.f, 100.f, -100.f, 1e4f, -1e4f}) {
    x.push_back(v);
  }
  for (Activation act : kActivations) {
    // Every tail length through the padded tail path.
    for (size_t count : {x.size(), size_t{1}, size_t{2}, size_t{3}, size_t{5}}) {
      std::vector<float> got(x.begin(), x.begin() + count);
      kernels::f32_vact__wasmsimd(count, got.data(), act);
      double worst = 0.0;
      for (size_t i = 0; i < count; ++i) {
        const double want = activate_ref(x[i], act);
        // Relative down into the tails, divided by the tails' condition number (~ x^2: one
        // float ulp of x moves e^(-x^2/2) by x^2 ulps); absolute below 1e-20, where exp's clamp
        // at e^-87 takes over.
        const double cond = 1.0 + double(x[i]) * x[i] / 8.0;
        const double e = std::fabs(got[i] - want) / (std::fabs(want) + 1e-20) / cond;
        if (e > 4e-6) ADD_FAILURE() << "x=" << x[i] << " got " << got[i] << " want " << want;
        worst = std::max(worst, e);
      }
      if (count == x.size()) {
        test::record_figure("kernels",
                            std::string("activation_max_rel_error_") +
                                (act == Activation::gelu         ? "gelu"
                                 : act == Activation::quick_gelu ? "quick_gelu"
                                                                 : "none"),
                            worst);
      }
      EXPECT_LT(worst, 4e-6) << "count=" << count;
    }
  }
  std::vector<float> same(x);
  kernels::f32_vact__wasmsimd(same.size(), same.data(), Activation::none);
  EXPECT_EQ(same, x);
}

// exp clamps its input with pseudo-min/max, which keep a NaN only when it is the operand compared
// first: a NaN score must make its softmax row NaN (not a uniform row of e^-87 / sum), and a NaN
// activation input must come out NaN without touching its neighbours.
TEST(NaNInputs, ComeOutNaNThroughSoftmaxAndActivations) {
  const float nan = std::nanf("");
  for (size_t n : {3, 4, 9}) {
    std::vector<float> row = random_vector(n, static_cast<unsigned>(n), -5.f, 5.f);
    row[n / 2] = nan;
    kernels::f32_softmax__wasmsimd(1, n, 0.125f, row.data(), n);
    for (size_t i = 0; i < n; ++i) EXPECT_TRUE(std::isnan(row[i])) << "n=" << n << " i=" << i;
  }
  const std::vector<float> x = {nan, 1.5f, -2.f, nan, 0.25f, nan, -40.f};
  for (Activation act : kActivations) {
    if (act == Activation::none) continue;
    std::vector<float> got(x);
    kernels::f32_vact__wasmsimd(got.size(), got.data(), act);
    for (size_t i = 0; i < x.size(); ++i) {
      if (std::isnan(x[i])) {
        EXPECT_TRUE(std::isnan(got[i])) << "at " << i << " got " << got[i];
      } else {
        float alone = x[i];
        kernels::f32_vact__wasmsimd(1, &alone, act);
        EXPECT_EQ(got[i], alone) << "at " << i;
      }
    }
  }
}

TEST(LayerNorm, SimdMatchesScalar) {
  for (size_t dim : {1, 3, 4, 5, 8, 13, 512, 513, 768}) {
    for (size_t rows : {1, 2, 5}) {
      // An offset mean checks the centred variance.
      const std::vector<float> x = random_vector(rows * dim, static_cast<unsigned>(dim), 5.f, 7.f);
      const std::vector<float> gamma = random_vector(dim, 2), beta = random_vector(dim, 3);
      std::vector<float> got(rows * dim), want(rows * dim);
      kernels::f32_layernorm__wasmsimd(rows, dim, x.data(), gamma.data(), beta.data(), 1e-5f,
                                       got.data());
      kernels::f32_layernorm__scalar(rows, dim, x.data(), gamma.data(), beta.data(), 1e-5f,
                                     want.data());
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_NEAR(got[i], want[i], 2e-5 * (std::fabs(gamma[i % dim]) * 4 + 1))
            << "dim=" << dim << " i=" << i;
      }
      // In place, as the transformer calls it.
      std::vector<float> inplace(x);
      kernels::f32_layernorm__wasmsimd(rows, dim, inplace.data(), gamma.data(), beta.data(), 1e-5f,
                                       inplace.data());
      EXPECT_EQ(inplace, got);
    }
  }
}

TEST(Softmax, SimdMatchesScalar) {
  for (size_t n : {1, 2, 3, 4, 5, 7, 8, 9, 17, 50, 77}) {
    const size_t rows = 3, stride = n + 2;
    std::vector<float> got = random_vector(rows * stride, static_cast<unsigned>(n), -20.f, 20.f);
    std::vector<float> want(got);
    kernels::f32_softmax__wasmsimd(rows, n, 0.125f, got.data(), stride);
    kernels::f32_softmax__scalar(rows, n, 0.125f, want.data(), stride);
    for (size_t r = 0; r < rows; ++r) {
      double sum = 0;
      for (size_t i = 0; i < stride; ++i) {
        if (i >= n) {
          ASSERT_EQ(got[r * stride + i], want[r * stride + i]) << "wrote past n";
          continue;
        }
        ASSERT_NEAR(got[r * stride + i], want[r * stride + i], 1e-6) << "n=" << n;
        sum += got[r * stride + i];
      }
      EXPECT_NEAR(sum, 1.0, 1e-5);
    }
  }
}

TEST(L2Norm, RowsBecomeUnitAndZeroStaysZero) {
  for (size_t dim : {1, 3, 4, 7, 512}) {
    std::vector<float> x = random_vector(2 * dim, static_cast<unsigned>(dim));
    std::fill(x.begin() + dim, x.end(), 0.f);
    const std::vector<float> before(x);
    l2_normalize_rows(x.data(), 2, static_cast<int>(dim));
    double norm = 0, norm_before = 0;
    for (size_t i = 0; i < dim; ++i) {
      norm += double(x[i]) * x[i];
      norm_before += double(before[i]) * before[i];
    }
    EXPECT_NEAR(norm, 1.0, 1e-6);
    for (size_t i = 0; i < dim; ++i) EXPECT_NEAR(x[i], before[i] / std::sqrt(norm_before), 1e-6);
    for (size_t i = dim; i < 2 * dim; ++i) EXPECT_EQ(x[i], 0.f);
  }
}

// Plain attention in double, one (head, query) at a time.
std::vector<double> attention_reference(const std::vector<float>& q, const std::vector<float>& k,
                                        const std::vector<float>& v, int tokens, int heads, int dim,
                                        bool causal) {
  const int width = heads * dim;
  std::vector<double> out(static_cast<size_t>(tokens) * width, 0.0);
  for (int h = 0; h < heads; ++h) {
    for (int i = 0; i < tokens; ++i) {
      const int visible = causal ? i + 1 : tokens;
      std::vector<double> p(visible);
      double max = -1e300, sum = 0;
      for (int j = 0; j < visible; ++j) {
        double dot = 0;
        for (int d = 0; d < dim; ++d)
          dot += double(q[i * width + h * dim + d]) * k[j * width + h * dim + d];
        p[j] = dot / std::sqrt(double(dim));
        max = std::max(max, p[j]);
      }
      for (double& x : p) sum += (x = std::exp(x - max));
      for (int j = 0; j < visible; ++j) {
        for (int d = 0; d < dim; ++d)
          out[i * width + h * dim + d] += p[j] / sum * v[j * width + h * dim + d];
      }
    }
  }
  return out;
}

TEST(Attention, MatchesReferenceCausalAndNot) {
  ThreadPool pool(2);
  double worst = 0;
  for (int tokens : {1, 2, 5, 7, 9, 50, 77}) {
    for (auto [heads, dim] : {std::pair<int, int>{1, 5}, {3, 8}, {12, 64}}) {
      const size_t size = static_cast<size_t>(tokens) * heads * dim;
      const auto q = random_vector(size, 1, -2.f, 2.f), k = random_vector(size, 2, -2.f, 2.f),
                 v = random_vector(size, 3);
      for (bool causal : {false, true}) {
        const auto want = attention_reference(q, k, v, tokens, heads, dim, causal);
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
          std::vector<float> got(size, 9.f);
          multi_head_attention(q.data(), 0, tokens, k.data(), v.data(), tokens, heads, dim, causal,
                               got.data(), p);
          for (size_t i = 0; i < size; ++i) {
            worst = std::max(worst, std::fabs(got[i] - want[i]));
          }
        }
        // Causal row 0 sees only key 0: its output is exactly v's first row.
        if (causal) {
          std::vector<float> got(size);
          multi_head_attention(q.data(), 0, tokens, k.data(), v.data(), tokens, heads, dim, true,
                               got.data(), nullptr);
          for (int d = 0; d < heads * dim; ++d) ASSERT_NEAR(got[d], v[d], 1e-6);
        }
      }
    }
  }
  test::record_figure("kernels", "attention_max_abs_error", worst);
  EXPECT_LT(worst, 2e-5);  // values are in [-1, 1]
}

// Queries for a run of tokens alone (the last transformer block computes one row) give exactly
// those rows of the all-queries result, masked or not.
TEST(Attention, QuerySubsetMatchesThoseRowsOfTheFullResult) {
  ThreadPool pool(2);
  const int tokens = 50, heads = 12, dim = 64, width = heads * dim;
  const size_t size = static_cast<size_t>(tokens) * width;
  const auto q = random_vector(size, 4, -2.f, 2.f), k = random_vector(size, 5, -2.f, 2.f),
             v = random_vector(size, 6);
  for (bool causal : {false, true}) {
    std::vector<float> all(size);
    multi_head_attention(q.data(), 0, tokens, k.data(), v.data(), tokens, heads, dim, causal,
                         all.data(), &pool);
    for (auto [first, count] : {std::pair<int, int>{0, 1}, {7, 1}, {49, 1}, {10, 5}}) {
      std::vector<float> got(static_cast<size_t>(count) * width, 9.f);
      multi_head_attention(q.data() + first * width, first, count, k.data(), v.data(), tokens,
                           heads, dim, causal, got.data(), &pool);
      for (size_t i = 0; i < got.size(); ++i) {
        ASSERT_EQ(got[i], all[first * width + i]) << "causal " << causal << " first " << first;
      }
    }
  }
  std::vector<float> out(width);
  EXPECT_THROW(multi_head_attention(q.data(), 50, 1, k.data(), v.data(), tokens, heads, dim, false,
                                    out.data(), &pool),
               Error);
}

// The tile height an engine is given (set_gemm_rows) changes who computes an output, never how:
// Linear in both formats and attention give bitwise the same results at every height.
TEST(GemmRows, EveryTileHeightGivesBitwiseTheSameResults) {
  ThreadPool pool(2);
  const size_t n = 203, k = 301, tokens = 77, heads = 3, dim = 8;
  const std::vector<float> w = random_vector(n * k, 11), bias = random_vector(n, 12);
  const Linear f32(w.data(), bias.data(), static_cast<int>(n), static_cast<int>(k),
                   WeightFormat::f32);
  const Linear q8(w.data(), bias.data(), static_cast<int>(n), static_cast<int>(k),
                  WeightFormat::q8);
  const size_t size = tokens * heads * dim;
  const auto q = random_vector(size, 13), keys = random_vector(size, 14),
             v = random_vector(size, 15);
  // Per row count: the f32 and q8 outputs, then attention's, at the default height.
  std::vector<std::vector<float>> first;
  EXPECT_EQ(kernels::gemm_rows(), kernels::kDefaultGemmRows);
  for (int height = 1; height <= kernels::kGemmKernelRows; ++height) {
    ASSERT_TRUE(kernels::set_gemm_rows(height));
    ASSERT_EQ(kernels::gemm_rows(), height);
    std::vector<std::vector<float>> results;
    for (size_t rows : {1, 2, 3, 5, 7, 50, 77}) {
      const std::vector<float> x = random_vector(rows * k, static_cast<unsigned>(rows));
      std::vector<float> got(rows * n), got_q8(rows * n);
      f32.forward(x.data(), static_cast<int>(rows), got.data(), Activation::quick_gelu, &pool);
      q8.forward(x.data(), static_cast<int>(rows), got_q8.data(), Activation::none, &pool);
      results.push_back(std::move(got));
      results.push_back(std::move(got_q8));
    }
    std::vector<float> attended(size);
    multi_head_attention(q.data(), 0, static_cast<int>(tokens), keys.data(), v.data(),
                         static_cast<int>(tokens), static_cast<int>(heads), static_cast<int>(dim),
                         true, attended.data(), &pool);
    results.push_back(std::move(attended));
    if (first.empty()) {
      first = std::move(results);
    } else {
      for (size_t i = 0; i < results.size(); ++i) ASSERT_EQ(results[i], first[i]) << height;
    }
  }
  EXPECT_FALSE(kernels::set_gemm_rows(0));
  EXPECT_FALSE(kernels::set_gemm_rows(kernels::kGemmKernelRows + 1));
  EXPECT_EQ(kernels::gemm_rows(), kernels::kGemmKernelRows) << "a refused height changes nothing";
  ASSERT_TRUE(kernels::set_gemm_rows(kernels::kDefaultGemmRows));
}

// ---- int8 weights, whole model ----

// Image and text embeddings of the ViT-B/32-shaped checkpoint with q8 weights against the same
// checkpoint in f32: the fidelity the int8 path promises.
TEST(Q8Fidelity, VitB32EmbeddingsStayCloseToF32) {
  const std::string dir = test::fixture_path("models/vit-b-32-hf");
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<uint8_t>>> ref;
  read_safetensors_file(
      dir + "/reference.safetensors", [](const SafetensorsHeader&) {},
      [&](const TensorInfo& info, const uint8_t* data) {
        ref[info.name] = {info.shape, std::vector<uint8_t>(data, data + (info.end - info.begin))};
      });
  const auto f32 = load_model_dir(dir, {WeightFormat::f32, 2});
  const auto q8 = load_model_dir(dir, {WeightFormat::q8, 2});
  EXPECT_LT(q8->weight_bytes(), f32->weight_bytes() / 2);
  const int dim = f32->config().embed_dim;
  auto cosine_of = [dim](const float* a, const float* b) {
    double dot = 0;
    for (int i = 0; i < dim; ++i) dot += double(a[i]) * b[i];  // both are unit vectors
    return dot;
  };
  double image_min = 1, text_min = 1;
  const auto& [pixel_shape, pixel_bytes] = ref.at("pixel_values");
  const auto* pixels = reinterpret_cast<const float*>(pixel_bytes.data());
  const int batch = static_cast<int>(pixel_shape[0]);
  const auto a = f32->embed_images(pixels, batch), b = q8->embed_images(pixels, batch);
  for (int i = 0; i < batch; ++i) {
    image_min = std::min(image_min, cosine_of(a.data() + i * dim, b.data() + i * dim));
  }
  const auto& [id_shape, id_bytes] = ref.at("input_ids");
  const auto* ids = reinterpret_cast<const int32_t*>(id_bytes.data());
  const auto* lengths = reinterpret_cast<const int32_t*>(ref.at("lengths").second.data());
  for (int64_t t = 0; t < id_shape[0]; ++t) {
    const int32_t* row = ids + t * id_shape[1];
    const std::vector<int32_t> tokens(row, row + lengths[t]);
    text_min = std::min(text_min,
                        cosine_of(f32->embed_text(tokens).data(), q8->embed_text(tokens).data()));
  }
  test::record_figure("kernels", "q8_vs_f32_vit_b32_image_cos_min", image_min);
  test::record_figure("kernels", "q8_vs_f32_vit_b32_text_cos_min", text_min);
  EXPECT_GE(image_min, 0.995);
  EXPECT_GE(text_min, 0.995);
}

// ---- thread pool ----

TEST(ThreadPoolTest, EveryIndexRunsOnceAcrossManyCalls) {
  ThreadPool pool(3);
  EXPECT_EQ(pool.size(), 3);
  for (int call = 0; call < 2000; ++call) {
    const size_t count = 1 + call % 37;
    std::vector<std::atomic<int>> hits(count);
    pool.parallel_for(count, [&](size_t i) { hits[i].fetch_add(1); });
    for (size_t i = 0; i < count; ++i) ASSERT_EQ(hits[i].load(), 1) << "call " << call;
  }
}

TEST(ThreadPoolTest, NestedAndConcurrentCallsComplete) {
  ThreadPool pool(2);
  // A task that itself calls parallel_for on the same pool runs the inner loop inline.
  std::atomic<int> inner{0};
  pool.parallel_for(8, [&](size_t) { pool.parallel_for(5, [&](size_t) { inner.fetch_add(1); }); });
  EXPECT_EQ(inner.load(), 40);
  // Two outside threads sharing the pool take turns.
  std::atomic<int> a{0}, b{0};
  std::thread other([&] {
    for (int i = 0; i < 300; ++i) pool.parallel_for(7, [&](size_t) { a.fetch_add(1); });
  });
  for (int i = 0; i < 300; ++i) pool.parallel_for(5, [&](size_t) { b.fetch_add(1); });
  other.join();
  EXPECT_EQ(a.load(), 2100);
  EXPECT_EQ(b.load(), 1500);
}

TEST(ThreadPoolTest, RethrowsTaskErrorAfterAllTasksFinish) {
  ThreadPool pool(2);
  std::atomic<int> ran{0};
  EXPECT_THROW(pool.parallel_for(64,
                                 [&](size_t i) {
                                   ran.fetch_add(1);
                                   if (i == 5) throw std::runtime_error("task 5");
                                 }),
               std::runtime_error);
  EXPECT_EQ(ran.load(), 64);
  // Still usable afterwards.
  std::atomic<int> after{0};
  pool.parallel_for(10, [&](size_t) { after.fetch_add(1); });
  EXPECT_EQ(after.load(), 10);
}

TEST(ThreadPoolTest, WorkersStartedLaterJoinJobsFromThen) {
  ThreadPool pool(3, /*start=*/false);
  EXPECT_EQ(pool.size(), 1);
  std::mutex mutex;
  std::set<std::thread::id> ids;
  std::atomic<int> ran{0};
  auto job = [&] {
    pool.parallel_for(64, [&](size_t) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      ran.fetch_add(1);
      std::lock_guard<std::mutex> lock(mutex);
      ids.insert(std::this_thread::get_id());
    });
  };
  job();  // before start(): the caller alone
  EXPECT_EQ(ran.load(), 64);
  EXPECT_EQ(ids.size(), 1u);
  pool.start();
  pool.start();  // a second start() changes nothing
  EXPECT_EQ(pool.size(), 3);
  // Jobs until both workers have taken a task (each job takes ~2 ms; workers may wake late).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (ids.size() < 3 && std::chrono::steady_clock::now() < deadline) job();
  EXPECT_EQ(ids.size(), 3u);
}

TEST(ThreadPoolTest, JobsCompleteInsideNestedPassesAndAfterThem) {
  // Two threads: within a pass they poll long only where the pool has no more threads than the
  // machine has cores.
  ThreadPool pool(2);
  const ThreadPool::Pass none(nullptr);  // allowed: models without a pool open passes too
  std::atomic<int> ran{0}, other_ran{0};
  {
    const ThreadPool::Pass outer(&pool);
    // Another thread's passes and jobs interleave with this one's.
    std::thread other([&] {
      for (int i = 0; i < 50; ++i) {
        const ThreadPool::Pass pass(&pool);
        pool.parallel_for(9, [&](size_t) { other_ran.fetch_add(1); });
      }
    });
    for (int i = 0; i < 50; ++i) {
      const ThreadPool::Pass inner(&pool);
      pool.parallel_for(11, [&](size_t) { ran.fetch_add(1); });
      // Serial work between jobs, longer than the workers' poll outside a pass.
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    other.join();
  }
  EXPECT_EQ(ran.load(), 550);
  EXPECT_EQ(other_ran.load(), 450);
  // Once every pass is closed the workers sleep between jobs, and jobs still reach them.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::mutex mutex;
  std::set<std::thread::id> ids;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (ids.size() < 2 && std::chrono::steady_clock::now() < deadline) {
    pool.parallel_for(64, [&](size_t) {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
      std::lock_guard<std::mutex> lock(mutex);
      ids.insert(std::this_thread::get_id());
    });
  }
  EXPECT_EQ(ids.size(), 2u);
}

TEST(ThreadPoolTest, PoolNeverStartedIsDestroyedCleanly) {
  std::atomic<int> ran{0};
  {
    ThreadPool pool(4, /*start=*/false);
    pool.parallel_for(10, [&](size_t) { ran.fetch_add(1); });
  }
  EXPECT_EQ(ran.load(), 10);
}

}  // namespace
}  // namespace clip

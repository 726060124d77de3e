// Weight packing for the GEMM kernels (layouts in kernels.h), run once per layer at load time.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <iterator>
#include <vector>

#include "kernels/kernels.h"
#include "kernels/simd.h"

namespace clip::kernels {

namespace {

// rows 0..3 of a 4x4 block in, its columns out.
inline void transpose_4x4(v128_t& a, v128_t& b, v128_t& c, v128_t& d) {
  const v128_t ab_lo = wasm_i32x4_shuffle(a, b, 0, 4, 1, 5);  // a0 b0 a1 b1
  const v128_t ab_hi = wasm_i32x4_shuffle(a, b, 2, 6, 3, 7);  // a2 b2 a3 b3
  const v128_t cd_lo = wasm_i32x4_shuffle(c, d, 0, 4, 1, 5);
  const v128_t cd_hi = wasm_i32x4_shuffle(c, d, 2, 6, 3, 7);
  a = wasm_i64x2_shuffle(ab_lo, cd_lo, 0, 2);  // a0 b0 c0 d0
  b = wasm_i64x2_shuffle(ab_lo, cd_lo, 1, 3);
  c = wasm_i64x2_shuffle(ab_hi, cd_hi, 0, 2);
  d = wasm_i64x2_shuffle(ab_hi, cd_hi, 1, 3);
}

// A full panel of a row-major [n, k] weight: 4 values of each of the 8 columns are loaded and
// transposed in registers, so a model's ~150 M weights pack in one pass at memory speed (the
// element-by-element loop took a third of the load time).
void pack_f32_full_panel(size_t k, const float* weight, size_t col_step, float* rows) {
  size_t i = 0;
  for (; i + 4 <= k; i += 4) {
    v128_t c[kPanel];
    for (size_t j = 0; j < kPanel; ++j) c[j] = wasm_v128_load(weight + j * col_step + i);
    transpose_4x4(c[0], c[1], c[2], c[3]);
    transpose_4x4(c[4], c[5], c[6], c[7]);
    float* out = rows + i * kPanel;
    for (size_t r = 0; r < 4; ++r) {
      wasm_v128_store(out + r * kPanel, c[r]);
      wasm_v128_store(out + r * kPanel + 4, c[4 + r]);
    }
  }
  for (; i < k; ++i) {
    for (size_t j = 0; j < kPanel; ++j) rows[i * kPanel + j] = weight[j * col_step + i];
  }
}

// Shared by both f32 layouts: element (col, i) of the [n, k] weight is at
// weight[col * col_step + i * k_step].
void pack_f32_panels(size_t n, size_t k, const float* weight, size_t col_step, size_t k_step,
                     const float* bias, float* packed) {
  for (size_t p = 0; p < gemm_panels(n); ++p) {
    float* panel = packed + p * kPanel * (1 + k);
    float* rows = panel + kPanel;  // [k, 8]
    const size_t first = p * kPanel;
    for (size_t j = 0; j < kPanel; ++j) {
      panel[j] = (first + j < n && bias) ? bias[first + j] : 0.f;
    }
    if (first + kPanel <= n && k_step == 1) {
      pack_f32_full_panel(k, weight + first * col_step, col_step, rows);
    } else if (first + kPanel <= n &&
               col_step == 1) {  // [k, n]: a panel row is 8 contiguous values
      for (size_t i = 0; i < k; ++i) {
        const float* in = weight + first + i * k_step;
        wasm_v128_store(rows + i * kPanel, wasm_v128_load(in));
        wasm_v128_store(rows + i * kPanel + 4, wasm_v128_load(in + 4));
      }
    } else {
      for (size_t j = 0; j < kPanel; ++j) {
        const size_t col = first + j;
        for (size_t i = 0; i < k; ++i) {
          rows[i * kPanel + j] = col < n ? weight[col * col_step + i * k_step] : 0.f;
        }
      }
    }
  }
}

}  // namespace

void pack_f32_gemm(size_t n, size_t k, const float* weight, size_t stride, const float* bias,
                   float* packed) {
  pack_f32_panels(n, k, weight, stride, 1, bias, packed);
}

void pack_f32_gemm_kn(size_t k, size_t n, const float* weight, size_t stride, const float* bias,
                      float* packed) {
  pack_f32_panels(n, k, weight, 1, stride, bias, packed);
}

void pack_f32_gemm_rows(size_t mr, size_t k, const float* a, size_t a_stride, float* tile) {
  size_t i = 0;
  // Blocks of 4 k transposed in registers for the usual tile heights; the rest one by one.
  if (mr == 4) {
    const float *a0 = a, *a1 = a + a_stride, *a2 = a + 2 * a_stride, *a3 = a + 3 * a_stride;
    for (; i + 4 <= k; i += 4) {
      const v128_t r0 = wasm_v128_load(a0 + i), r1 = wasm_v128_load(a1 + i);
      const v128_t r2 = wasm_v128_load(a2 + i), r3 = wasm_v128_load(a3 + i);
      const v128_t t0 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5);  // a0[0] a1[0] a0[1] a1[1]
      const v128_t t1 = wasm_i32x4_shuffle(r2, r3, 0, 4, 1, 5);
      const v128_t t2 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7);
      const v128_t t3 = wasm_i32x4_shuffle(r2, r3, 2, 6, 3, 7);
      float* out = tile + i * 4;
      wasm_v128_store(out, wasm_i64x2_shuffle(t0, t1, 0, 2));
      wasm_v128_store(out + 4, wasm_i64x2_shuffle(t0, t1, 1, 3));
      wasm_v128_store(out + 8, wasm_i64x2_shuffle(t2, t3, 0, 2));
      wasm_v128_store(out + 12, wasm_i64x2_shuffle(t2, t3, 1, 3));
    }
  } else if (mr == 3) {  // Firefox's tiles (set_gemm_rows) and 3-row rests: 3x4 blocks
    const float *a0 = a, *a1 = a + a_stride, *a2 = a + 2 * a_stride;
    for (; i + 4 <= k; i += 4) {
      const v128_t r0 = wasm_v128_load(a0 + i), r1 = wasm_v128_load(a1 + i);
      const v128_t r2 = wasm_v128_load(a2 + i);
      const v128_t t01 = wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5);   // a0[0] a1[0] a0[1] a1[1]
      const v128_t t23 = wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7);   // a0[2] a1[2] a0[3] a1[3]
      const v128_t t11 = wasm_i32x4_shuffle(t01, r2, 3, 5, 3, 5);  // a1[1] a2[1] (twice)
      float* out = tile + i * 3;
      wasm_v128_store(out, wasm_i32x4_shuffle(t01, r2, 0, 1, 4, 2));
      wasm_v128_store(out + 4, wasm_i32x4_shuffle(t11, t23, 0, 1, 4, 5));
      wasm_v128_store(out + 8, wasm_i32x4_shuffle(r2, t23, 2, 6, 7, 3));
    }
  } else if (mr == 2) {  // 2-row rests
    const float *a0 = a, *a1 = a + a_stride;
    for (; i + 4 <= k; i += 4) {
      const v128_t r0 = wasm_v128_load(a0 + i), r1 = wasm_v128_load(a1 + i);
      float* out = tile + i * 2;
      wasm_v128_store(out, wasm_i32x4_shuffle(r0, r1, 0, 4, 1, 5));
      wasm_v128_store(out + 4, wasm_i32x4_shuffle(r0, r1, 2, 6, 3, 7));
    }
  }
  for (; i < k; ++i) {
    for (size_t r = 0; r < mr; ++r) tile[i * mr + r] = a[r * a_stride + i];
  }
}

namespace {

// round(w[i] / scale) clamped to [-127, 127], for i < k: the per-channel quantization, four
// values at a time (f32x4.nearest rounds half to even, as lrint does in the scalar tail).
void quantize_column_q8(size_t k, const float* w, float scale, int8_t* out) {
  const v128_t vscale = wasm_f32x4_splat(scale);
  const v128_t lo = wasm_i32x4_splat(-127), hi = wasm_i32x4_splat(127);
  size_t i = 0;
  for (; i + 4 <= k; i += 4) {
    const v128_t q = wasm_i32x4_trunc_sat_f32x4(
        wasm_f32x4_nearest(wasm_f32x4_div(wasm_v128_load(w + i), vscale)));
    const v128_t clamped = wasm_i32x4_min(wasm_i32x4_max(q, lo), hi);
    const v128_t bytes = wasm_i8x16_narrow_i16x8(wasm_i16x8_narrow_i32x4(clamped, clamped),
                                                 wasm_i16x8_narrow_i32x4(clamped, clamped));
    wasm_v128_store32_lane(out + i, bytes, 0);
  }
  for (; i < k; ++i) {
    out[i] = static_cast<int8_t>(std::clamp(std::lrint(w[i] / scale), -127L, 127L));
  }
}

}  // namespace

void pack_q8_gemm(size_t n, size_t k, const float* weight, const float* bias, int8_t* packed) {
  const size_t pairs = (k + 1) / 2;
  const size_t panel_bytes = 2 * kPanel * sizeof(float) + kPanel * 2 * pairs;
  std::vector<int8_t> column(2 * pairs);
  for (size_t p = 0; p < gemm_panels(n); ++p) {
    int8_t* panel = packed + p * panel_bytes;
    float head[2 * kPanel];  // bias, then scale
    int8_t* q = panel + sizeof head;
    for (size_t j = 0; j < kPanel; ++j) {
      const size_t col = p * kPanel + j;
      head[j] = (col < n && bias) ? bias[col] : 0.f;
      std::fill(column.begin(), column.end(), int8_t{0});
      float scale = 1.f;
      if (col < n) {
        const float* w = weight + col * k;
        float max_abs = 0.f;
        for (size_t i = 0; i < k; ++i) max_abs = std::max(max_abs, std::fabs(w[i]));
        if (max_abs > 0.f) scale = max_abs / 127.f;
        quantize_column_q8(k, w, scale, column.data());
      }
      head[kPanel + j] = scale;
      // Column j's bytes for k = 2p, 2p + 1 go to bytes 2j, 2j + 1 of pair p's 16-byte row.
      for (size_t pair = 0; pair < pairs; ++pair) {
        std::memcpy(q + pair * 2 * kPanel + 2 * j, column.data() + 2 * pair, 2);
      }
    }
    std::memcpy(panel, head, sizeof head);
  }
}

int q16_max_for_depth(size_t k) {
  // |sum| <= k * 127 * qmax must stay below 2^31.
  const double bound = 2147483647.0 / (127.0 * static_cast<double>(std::max<size_t>(k, 1)));
  return static_cast<int>(std::min(32767.0, std::floor(bound)));
}

namespace {

constexpr F32GemmKernel kF32GemmSimd[] = {f32_gemm_1x8__wasmsimd, f32_gemm_2x16__wasmsimd,
                                          f32_gemm_3x8__wasmsimd, f32_gemm_4x8__wasmsimd,
                                          f32_gemm_5x8__wasmsimd, f32_gemm_6x8__wasmsimd};
constexpr F32GemmKernel kF32GemmRelaxedSimd[] = {
    f32_gemm_1x8__wasmrelaxedsimd, f32_gemm_2x16__wasmrelaxedsimd, f32_gemm_3x8__wasmrelaxedsimd,
    f32_gemm_4x8__wasmrelaxedsimd, f32_gemm_5x8__wasmrelaxedsimd,  f32_gemm_6x8__wasmrelaxedsimd};
static_assert(std::size(kF32GemmSimd) == kGemmKernelRows, "one kernel per tile height");
static_assert(std::size(kF32GemmRelaxedSimd) == kGemmKernelRows, "one kernel per tile height");

// Set once, before any model work, from the thread that starts the module.
const F32GemmKernel* f32_gemm_table = kF32GemmSimd;
// Read by the threads that cut GEMMs into row tiles.
std::atomic<int> gemm_row_count{kDefaultGemmRows};

}  // namespace

int gemm_rows() {
  return gemm_row_count.load(std::memory_order_relaxed);
}

bool set_gemm_rows(int rows) {
  if (rows < 1 || rows > kGemmKernelRows) return false;
  gemm_row_count.store(rows, std::memory_order_relaxed);
  return true;
}

F32GemmKernel f32_gemm_kernel(size_t mr) {
  return f32_gemm_table[mr - 1];
}

bool enable_relaxed_simd() {
  // Two rows, 8 columns, depth 3, small integers: exact in any rounding, fused or not.
  const float a[2][3] = {{1, 2, 3}, {-4, 5, -6}};
  float weight[8][3], bias[8];
  for (int c = 0; c < 8; ++c) {
    bias[c] = static_cast<float>(c - 3);
    for (int k = 0; k < 3; ++k) weight[c][k] = static_cast<float>((c + 1) * (k - 1));
  }
  float packed[kPanel * (1 + 3)], tile[2 * 3], got[2][8];  // f32_gemm_packed_size(8, 3)
  pack_f32_gemm(8, 3, &weight[0][0], 3, bias, packed);
  pack_f32_gemm_rows(2, 3, &a[0][0], 3, tile);
  f32_gemm_2x16__wasmrelaxedsimd(8, 3, tile, packed, &got[0][0], 8, Activation::none,
                                 reinterpret_cast<const uint8_t*>(packed), 0);
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 8; ++c) {
      float want = bias[c];
      for (int k = 0; k < 3; ++k) want += a[r][k] * weight[c][k];
      if (got[r][c] != want) return false;
    }
  }
  f32_gemm_table = kF32GemmRelaxedSimd;
  return true;
}

Q8GemmKernel q8_gemm_kernel(size_t mr) {
  static constexpr Q8GemmKernel table[] = {q8_gemm_1x8__wasmsimd, q8_gemm_2x8__wasmsimd,
                                           q8_gemm_3x8__wasmsimd, q8_gemm_4x8__wasmsimd,
                                           q8_gemm_5x8__wasmsimd, q8_gemm_6x8__wasmsimd};
  static_assert(std::size(table) == kGemmKernelRows, "one kernel per tile height");
  return table[mr - 1];
}

}  // namespace clip::kernels

// Dynamic per-row int16 quantization of activations for the q8 GEMM kernels, written as the
// kernels' interleaved input tile.
#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"
#include "kernels/simd.h"

namespace clip::kernels {

// Both passes use instructions x86 engines run as one each: pmax (the NaN-propagating max takes
// seven under V8; non-finite values are caught by their own compare), and rounding by adding
// 1.5 * 2^23, whose low mantissa bits then hold the integer (the same round-half-to-even as
// f32x4.nearest, without the float-to-int conversion, which takes five).
void quantize_rows_q16__wasmsimd(size_t rows, size_t k, const float* x, size_t x_stride, int qmax,
                                 int16_t* q, float* scale) {
  const size_t pair_stride = 2 * rows;  // int16 from one pair of a row to its next pair
  const v128_t infinity = wasm_f32x4_splat(INFINITY);
  const v128_t magic = wasm_f32x4_splat(12582912.f);  // 1.5 * 2^23
  for (size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * x_stride;
    int16_t* qr = q + 2 * r;  // this row's first pair
    size_t i = 0;
    v128_t vmax = wasm_f32x4_splat(0.f);
    v128_t finite = wasm_i32x4_splat(-1);
    for (; i + 4 <= k; i += 4) {
      const v128_t a = wasm_f32x4_abs(wasm_v128_load(xr + i));
      vmax = wasm_f32x4_pmax(vmax, a);
      finite = wasm_v128_and(finite, wasm_f32x4_lt(a, infinity));
    }
    bool all_finite = wasm_i32x4_all_true(finite);
    float max_abs =
        std::max(std::max(wasm_f32x4_extract_lane(vmax, 0), wasm_f32x4_extract_lane(vmax, 1)),
                 std::max(wasm_f32x4_extract_lane(vmax, 2), wasm_f32x4_extract_lane(vmax, 3)));
    for (; i < k; ++i) {
      const float a = std::fabs(xr[i]);
      all_finite = all_finite && a < INFINITY;
      max_abs = std::max(max_abs, a);
    }
    if (!all_finite) {
      scale[r] = NAN;
      for (size_t p = 0; p < q16_row_length(k) / 2; ++p) {
        qr[p * pair_stride] = qr[p * pair_stride + 1] = 0;
      }
      continue;
    }

    const float inv = max_abs > 0.f ? static_cast<float>(qmax) / max_abs : 0.f;
    scale[r] = max_abs > 0.f ? max_abs / static_cast<float>(qmax) : 0.f;
    const v128_t vinv = wasm_f32x4_splat(inv);
    i = 0;
    for (; i + 8 <= k; i += 8) {
      // |x * inv| <= qmax: the sum's bits are magic's plus the rounded value.
      const v128_t lo = wasm_i32x4_sub(
          wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(xr + i), vinv), magic), magic);
      const v128_t hi = wasm_i32x4_sub(
          wasm_f32x4_add(wasm_f32x4_mul(wasm_v128_load(xr + i + 4), vinv), magic), magic);
      const v128_t pairs = wasm_i16x8_narrow_i32x4(lo, hi);  // four pairs of this row
      int16_t* out = qr + (i / 2) * pair_stride;
      wasm_v128_store32_lane(out, pairs, 0);
      wasm_v128_store32_lane(out + pair_stride, pairs, 1);
      wasm_v128_store32_lane(out + 2 * pair_stride, pairs, 2);
      wasm_v128_store32_lane(out + 3 * pair_stride, pairs, 3);
    }
    for (; i < k; ++i) {
      qr[(i / 2) * pair_stride + i % 2] = static_cast<int16_t>(std::nearbyint(xr[i] * inv));
    }
    if (k % 2) qr[(k / 2) * pair_stride + 1] = 0;
  }
}

}  // namespace clip::kernels

// Dynamic per-row int16 quantization of activations for the q8 GEMM kernels, written as the
// kernels' interleaved input tile.
#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"
#include "kernels/simd.h"

namespace clip::kernels {

void quantize_rows_q16__wasmsimd(size_t rows, size_t k, const float* x, size_t x_stride, int qmax,
                                 int16_t* q, float* scale) {
  const size_t pair_stride = 2 * rows;  // int16 from one pair of a row to its next pair
  for (size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * x_stride;
    int16_t* qr = q + 2 * r;  // this row's first pair
    size_t i = 0;
    v128_t vmax = wasm_f32x4_splat(0.f);
    for (; i + 4 <= k; i += 4) vmax = wasm_f32x4_max(vmax, wasm_f32x4_abs(wasm_v128_load(xr + i)));
    float max_abs =
        std::max(std::max(wasm_f32x4_extract_lane(vmax, 0), wasm_f32x4_extract_lane(vmax, 1)),
                 std::max(wasm_f32x4_extract_lane(vmax, 2), wasm_f32x4_extract_lane(vmax, 3)));
    for (; i < k; ++i) max_abs = std::max(max_abs, std::fabs(xr[i]));

    const float inv = max_abs > 0.f ? static_cast<float>(qmax) / max_abs : 0.f;
    scale[r] = max_abs > 0.f ? max_abs / static_cast<float>(qmax) : 0.f;
    const v128_t vinv = wasm_f32x4_splat(inv);
    i = 0;
    for (; i + 8 <= k; i += 8) {
      const v128_t lo = wasm_i32x4_trunc_sat_f32x4(
          wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(xr + i), vinv)));
      const v128_t hi = wasm_i32x4_trunc_sat_f32x4(
          wasm_f32x4_nearest(wasm_f32x4_mul(wasm_v128_load(xr + i + 4), vinv)));
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

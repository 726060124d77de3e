// Row-wise layer normalization: two passes (mean, then centred variance) for stability.
#include <cmath>

#include "kernels/kernels.h"
#include "kernels/simd.h"

namespace clip::kernels {
namespace {

float sum_lanes(v128_t v) {
  return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
         (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}

}  // namespace

void f32_layernorm__wasmsimd(size_t rows, size_t dim, const float* x, const float* gamma,
                             const float* beta, float eps, float* y) {
  for (size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    const size_t body = dim / 4 * 4;

    v128_t vsum = wasm_f32x4_splat(0.f);
    for (size_t i = 0; i < body; i += 4) vsum = wasm_f32x4_add(vsum, wasm_v128_load(xr + i));
    float sum = sum_lanes(vsum);
    for (size_t i = body; i < dim; ++i) sum += xr[i];
    const float mean = sum / static_cast<float>(dim);

    const v128_t vmean = wasm_f32x4_splat(mean);
    v128_t vsq = wasm_f32x4_splat(0.f);
    for (size_t i = 0; i < body; i += 4) {
      const v128_t d = wasm_f32x4_sub(wasm_v128_load(xr + i), vmean);
      vsq = wasm_f32x4_add(vsq, wasm_f32x4_mul(d, d));
    }
    float sq = sum_lanes(vsq);
    for (size_t i = body; i < dim; ++i) sq += (xr[i] - mean) * (xr[i] - mean);
    const float inv = 1.f / std::sqrt(sq / static_cast<float>(dim) + eps);

    const v128_t vinv = wasm_f32x4_splat(inv);
    for (size_t i = 0; i < body; i += 4) {
      const v128_t n = wasm_f32x4_mul(wasm_f32x4_sub(wasm_v128_load(xr + i), vmean), vinv);
      wasm_v128_store(yr + i, wasm_f32x4_add(wasm_f32x4_mul(n, wasm_v128_load(gamma + i)),
                                             wasm_v128_load(beta + i)));
    }
    for (size_t i = body; i < dim; ++i) yr[i] = (xr[i] - mean) * inv * gamma[i] + beta[i];
  }
}

}  // namespace clip::kernels

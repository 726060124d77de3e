// Row-wise L2 normalization of embeddings.
#include <cmath>

#include "kernels/kernels.h"
#include "kernels/simd.h"

namespace clip::kernels {

void f32_l2norm__wasmsimd(size_t rows, size_t dim, float* x) {
  const size_t body = dim / 4 * 4;
  for (size_t r = 0; r < rows; ++r) {
    float* xr = x + r * dim;
    v128_t vsq = wasm_f32x4_splat(0.f);
    for (size_t i = 0; i < body; i += 4) {
      const v128_t v = wasm_v128_load(xr + i);
      vsq = wasm_f32x4_add(vsq, wasm_f32x4_mul(v, v));
    }
    float sq = (wasm_f32x4_extract_lane(vsq, 0) + wasm_f32x4_extract_lane(vsq, 1)) +
               (wasm_f32x4_extract_lane(vsq, 2) + wasm_f32x4_extract_lane(vsq, 3));
    for (size_t i = body; i < dim; ++i) sq += xr[i] * xr[i];
    const float inv = sq > 0.f ? 1.f / std::sqrt(sq) : 0.f;
    const v128_t vinv = wasm_f32x4_splat(inv);
    for (size_t i = 0; i < body; i += 4)
      wasm_v128_store(xr + i, wasm_f32x4_mul(wasm_v128_load(xr + i), vinv));
    for (size_t i = body; i < dim; ++i) xr[i] *= inv;
  }
}

}  // namespace clip::kernels

// Row-wise softmax with the max subtracted first, so exp never overflows.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/vector-math.h"

namespace clip::kernels {

void f32_softmax__wasmsimd(size_t rows, size_t n, float scale, float* x, size_t stride) {
  const size_t body = n / 4 * 4;
  const size_t tail = n - body;
  const v128_t vscale = wasm_f32x4_splat(scale);
  for (size_t r = 0; r < rows; ++r) {
    float* xr = x + r * stride;
    // The tail runs through a zero-padded vector; `live` masks its padding lanes out.
    float pad[4] = {0.f, 0.f, 0.f, 0.f};
    std::memcpy(pad, xr + body, tail * sizeof(float));
    const v128_t live =
        wasm_i32x4_lt(wasm_i32x4_make(0, 1, 2, 3), wasm_i32x4_splat(static_cast<int>(tail)));

    v128_t vmax = wasm_f32x4_splat(-INFINITY);
    for (size_t i = 0; i < body; i += 4) {
      vmax = wasm_f32x4_max(vmax, wasm_f32x4_mul(wasm_v128_load(xr + i), vscale));
    }
    const v128_t tail_scaled = wasm_f32x4_mul(wasm_v128_load(pad), vscale);
    vmax =
        wasm_f32x4_max(vmax, wasm_v128_bitselect(tail_scaled, wasm_f32x4_splat(-INFINITY), live));
    const float max =
        std::max(std::max(wasm_f32x4_extract_lane(vmax, 0), wasm_f32x4_extract_lane(vmax, 1)),
                 std::max(wasm_f32x4_extract_lane(vmax, 2), wasm_f32x4_extract_lane(vmax, 3)));
    const v128_t vm = wasm_f32x4_splat(max);

    v128_t vsum = wasm_f32x4_splat(0.f);
    for (size_t i = 0; i < body; i += 4) {
      const v128_t e =
          exp_f32x4(wasm_f32x4_sub(wasm_f32x4_mul(wasm_v128_load(xr + i), vscale), vm));
      wasm_v128_store(xr + i, e);
      vsum = wasm_f32x4_add(vsum, e);
    }
    const v128_t tail_e = wasm_v128_and(exp_f32x4(wasm_f32x4_sub(tail_scaled, vm)), live);
    vsum = wasm_f32x4_add(vsum, tail_e);
    const float sum = (wasm_f32x4_extract_lane(vsum, 0) + wasm_f32x4_extract_lane(vsum, 1)) +
                      (wasm_f32x4_extract_lane(vsum, 2) + wasm_f32x4_extract_lane(vsum, 3));

    const v128_t vinv = wasm_f32x4_splat(1.f / sum);
    for (size_t i = 0; i < body; i += 4)
      wasm_v128_store(xr + i, wasm_f32x4_mul(wasm_v128_load(xr + i), vinv));
    wasm_v128_store(pad, wasm_f32x4_mul(tail_e, vinv));
    std::memcpy(xr + body, pad, tail * sizeof(float));
  }
}

}  // namespace clip::kernels

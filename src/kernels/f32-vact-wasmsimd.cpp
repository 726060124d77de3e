// In-place activation over a flat array.
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/vector-math.h"

namespace clip::kernels {

void f32_vact__wasmsimd(size_t count, float* x, Activation act) {
  if (act == Activation::none) return;
  size_t i = 0;
  for (; i + 4 <= count; i += 4) wasm_v128_store(x + i, activate_f32x4(wasm_v128_load(x + i), act));
  if (i < count) {
    // The tail goes through the same vector code, so every element gets the same approximation.
    float tail[4] = {0.f, 0.f, 0.f, 0.f};
    std::memcpy(tail, x + i, (count - i) * sizeof(float));
    wasm_v128_store(tail, activate_f32x4(wasm_v128_load(tail), act));
    std::memcpy(x + i, tail, (count - i) * sizeof(float));
  }
}

}  // namespace clip::kernels

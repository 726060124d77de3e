// Reference int8-weight GEMM over the packed layout, accumulating exactly in int32 like the SIMD
// kernels.
#include <cstring>

#include "kernels/kernels.h"
#include "kernels/scalar-activation.h"

namespace clip::kernels {

void q8_gemm__scalar(size_t mr, size_t nc, size_t kc, const int16_t* a, size_t a_stride,
                     const float* a_scale, const int8_t* w, float* c, size_t c_stride,
                     Activation act) {
  const size_t panel_bytes = 2 * kPanel * sizeof(float) + kPanel * kc;
  for (size_t col = 0; col < nc; ++col) {
    const int8_t* panel = w + (col / kPanel) * panel_bytes;
    const size_t j = col % kPanel;
    float bias, scale;
    std::memcpy(&bias, panel + j * sizeof(float), sizeof bias);
    std::memcpy(&scale, panel + (kPanel + j) * sizeof(float), sizeof scale);
    const int8_t* q = panel + 2 * kPanel * sizeof(float);
    for (size_t r = 0; r < mr; ++r) {
      int32_t sum = 0;
      for (size_t i = 0; i < kc; ++i) {
        sum += int32_t{a[r * a_stride + i]} * q[(i / 2) * 2 * kPanel + 2 * j + (i % 2)];
      }
      const float y = static_cast<float>(sum) * (a_scale[r] * scale) + bias;
      c[r * c_stride + col] = activate_scalar(y, act);
    }
  }
}

}  // namespace clip::kernels

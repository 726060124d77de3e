// Reference f32 GEMM over the packed layout: the plain loop the SIMD kernels are tested against.
#include "kernels/kernels.h"
#include "kernels/scalar-activation.h"

namespace clip::kernels {

void f32_gemm__scalar(size_t mr, size_t nc, size_t kc, const float* a, size_t a_stride,
                      const float* w, float* c, size_t c_stride, Activation act) {
  for (size_t col = 0; col < nc; ++col) {
    const float* panel = w + (col / kPanel) * kPanel * (1 + kc);
    const size_t j = col % kPanel;
    for (size_t r = 0; r < mr; ++r) {
      float sum = panel[j];
      for (size_t i = 0; i < kc; ++i) sum += a[r * a_stride + i] * panel[kPanel + i * kPanel + j];
      c[r * c_stride + col] = activate_scalar(sum, act);
    }
  }
}

}  // namespace clip::kernels

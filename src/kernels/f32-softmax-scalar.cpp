// Reference row-wise softmax.
#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"

namespace clip::kernels {

void f32_softmax__scalar(size_t rows, size_t n, float scale, float* x, size_t stride) {
  for (size_t r = 0; r < rows; ++r) {
    float* xr = x + r * stride;
    float max = -INFINITY;
    for (size_t i = 0; i < n; ++i) max = std::max(max, xr[i] * scale);
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) {
      xr[i] = std::exp(xr[i] * scale - max);
      sum += xr[i];
    }
    for (size_t i = 0; i < n; ++i) xr[i] = static_cast<float>(xr[i] / sum);
  }
}

}  // namespace clip::kernels

// Reference layer normalization, accumulating in double.
#include <cmath>

#include "kernels/kernels.h"

namespace clip::kernels {

void f32_layernorm__scalar(size_t rows, size_t dim, const float* x, const float* gamma,
                           const float* beta, float eps, float* y) {
  for (size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * dim;
    float* yr = y + r * dim;
    double mean = 0.0;
    for (size_t i = 0; i < dim; ++i) mean += xr[i];
    mean /= static_cast<double>(dim);
    double var = 0.0;
    for (size_t i = 0; i < dim; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= static_cast<double>(dim);
    const double inv = 1.0 / std::sqrt(var + eps);
    for (size_t i = 0; i < dim; ++i) {
      yr[i] = static_cast<float>((xr[i] - mean) * inv * gamma[i] + beta[i]);
    }
  }
}

}  // namespace clip::kernels

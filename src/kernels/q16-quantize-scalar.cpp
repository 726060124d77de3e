// Reference per-row int16 activation quantization, into the q8 kernels' interleaved tile.
#include <algorithm>
#include <cmath>

#include "kernels/kernels.h"

namespace clip::kernels {

void quantize_rows_q16__scalar(size_t rows, size_t k, const float* x, size_t x_stride, int qmax,
                               int16_t* q, float* scale) {
  for (size_t r = 0; r < rows; ++r) {
    const float* xr = x + r * x_stride;
    float max_abs = 0.f;
    bool all_finite = true;
    for (size_t i = 0; i < k; ++i) {
      all_finite = all_finite && std::isfinite(xr[i]);
      max_abs = std::max(max_abs, std::fabs(xr[i]));
    }
    const float inv = max_abs > 0.f ? static_cast<float>(qmax) / max_abs : 0.f;
    scale[r] = !all_finite ? NAN : max_abs > 0.f ? max_abs / static_cast<float>(qmax) : 0.f;
    for (size_t i = 0; i < q16_row_length(k); ++i) {
      const bool zero = i >= k || !all_finite;
      const int16_t value = zero ? 0 : static_cast<int16_t>(std::nearbyint(xr[i] * inv));
      q[((i / 2) * rows + r) * 2 + i % 2] = value;
    }
  }
}

}  // namespace clip::kernels

#include "embedding-table.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace clip {

float quantize_row_q8(const float* row, int n, int8_t* out) {
  float max_abs = 0.f;
  for (int i = 0; i < n; ++i) max_abs = std::max(max_abs, std::fabs(row[i]));
  const float scale = max_abs > 0.f ? max_abs / 127.f : 1.f;
  for (int i = 0; i < n; ++i) {
    // lrint rounds half to even, as numpy's round does in the converter.
    out[i] = static_cast<int8_t>(std::clamp(std::lrint(row[i] / scale), -127l, 127l));
  }
  return scale;
}

EmbeddingTable EmbeddingTable::from_data(DType dtype, const uint8_t* data, int rows, int dim,
                                         WeightFormat format) {
  const size_t count = static_cast<size_t>(rows) * dim;
  if (format == WeightFormat::f32) {
    EmbeddingTable table = uninitialized_f32(rows, dim);
    convert_to_f32(dtype, data, count, table.f32_data());
    return table;
  }
  EmbeddingTable table(rows, dim);
  table.q8_.resize(count);
  table.scales_.resize(rows);
  std::vector<float> row(dim);
  const size_t row_bytes = static_cast<size_t>(dim) * dtype_size(dtype);
  for (int r = 0; r < rows; ++r) {
    convert_to_f32(dtype, data + r * row_bytes, dim, row.data());
    table.scales_[r] =
        quantize_row_q8(row.data(), dim, table.q8_.data() + static_cast<size_t>(r) * dim);
  }
  return table;
}

EmbeddingTable EmbeddingTable::uninitialized_f32(int rows, int dim) {
  EmbeddingTable table(rows, dim);
  table.f32_.resize(static_cast<size_t>(rows) * dim);
  return table;
}

EmbeddingTable EmbeddingTable::from_q8(const int8_t* values, const float* scales, int rows, int dim,
                                       WeightFormat format) {
  const size_t count = static_cast<size_t>(rows) * dim;
  if (format == WeightFormat::q8) {
    EmbeddingTable table(rows, dim);
    table.q8_.assign(values, values + count);
    table.scales_.assign(scales, scales + rows);
    return table;
  }
  EmbeddingTable table = uninitialized_f32(rows, dim);
  for (size_t i = 0; i < count; ++i) table.f32_[i] = values[i] * scales[i / dim];
  return table;
}

void EmbeddingTable::row(int index, float* out) const {
  const size_t offset = static_cast<size_t>(index) * dim_;
  if (!f32_.empty()) {
    std::memcpy(out, f32_.data() + offset, sizeof(float) * dim_);
    return;
  }
  const float scale = scales_[index];
  for (int d = 0; d < dim_; ++d) out[d] = q8_[offset + d] * scale;
}

}  // namespace clip

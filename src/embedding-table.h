// Token embeddings: a [rows, dim] table read a few rows at a time. In q8 form each row is int8
// with one scale (symmetric, scale = max|row| / 127), which keeps the largest tensor of the text
// tower at a quarter of its f32 size at no cost in speed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ops.h"
#include "safetensors.h"
#include "uninitialized-vector.h"

namespace clip {

// Symmetric int8 of one row: returns the scale, writes round(x / scale) to out.
float quantize_row_q8(const float* row, int n, int8_t* out);

class EmbeddingTable {
 public:
  EmbeddingTable() = default;
  // From float data of any float dtype (converted row by row: no full f32 copy in q8 form).
  static EmbeddingTable from_data(DType dtype, const uint8_t* data, int rows, int dim,
                                  WeightFormat format);
  // From an int8 table with per-row scales, as tools/convert_weights.py writes it.
  static EmbeddingTable from_q8(const int8_t* values, const float* scales, int rows, int dim,
                                WeightFormat format);

  // An f32 table whose values the caller writes (through f32_data()) before any row() call.
  static EmbeddingTable uninitialized_f32(int rows, int dim);
  float* f32_data() { return f32_.data(); }

  int rows() const { return rows_; }
  int dim() const { return dim_; }
  size_t bytes() const { return f32_.size() * 4 + q8_.size() + scales_.size() * 4; }
  void row(int index, float* out) const;  // out: [dim]

 private:
  EmbeddingTable(int rows, int dim) : rows_(rows), dim_(dim) {}

  int rows_ = 0;
  int dim_ = 0;
  UninitializedVector<float> f32_;  // f32 form: [rows, dim]
  UninitializedVector<int8_t> q8_;  // q8 form: [rows, dim]
  std::vector<float> scales_;       // q8 form: [rows]
};

}  // namespace clip

// Operators the encoders are built from. The model code only ever calls these; which kernel
// runs behind them (scalar reference, SIMD128, int8) is decided here, once, when weights are
// packed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/activation.h"
#include "thread-pool.h"
#include "uninitialized-vector.h"

namespace clip {

enum class WeightFormat { f32, q8 };

// A fully connected layer: y[rows, out] = act(x[rows, in] · W[out, in]^T + b[out]).
// Weights are packed once at construction; the f32 source is not kept.
class Linear {
 public:
  Linear() = default;
  // With a pool, the packing is spread over its threads.
  Linear(const float* weight, const float* bias, int out_features, int in_features,
         WeightFormat format, ThreadPool* pool = nullptr);
  // An f32 layer packed inside `buffer`, which holds f32_gemm_packed_size(out, in) floats whose
  // first out * in are the [out, in] weight rows (read there by the loader): the packed weights
  // take the memory the rows were read into, with no second buffer of their size.
  static size_t in_place_floats(int out_features, int in_features);  // the buffer's size
  static Linear pack_rows_in_place(UninitializedVector<float> buffer, const float* bias,
                                   int out_features, int in_features, ThreadPool* pool = nullptr);

  int in_features() const { return in_; }
  int out_features() const { return out_; }
  bool empty() const { return out_ == 0; }
  size_t packed_bytes() const;

  void forward(const float* x, int rows, float* y, Activation act, ThreadPool* pool) const;

 private:
  int in_ = 0;
  int out_ = 0;
  WeightFormat format_ = WeightFormat::f32;
  // Exactly one is filled: the kernels' panel layouts (src/kernels/kernels.h), bias included.
  UninitializedVector<float> packed_f32_;
  UninitializedVector<int8_t> packed_q8_;
};

struct LayerNorm {
  std::vector<float> gamma;  // [dim]
  std::vector<float> beta;   // [dim]
  float eps = 1e-5f;
};

// y[rows, dim] = (x - mean) / sqrt(var + eps) * gamma + beta, row by row. y may alias x.
void layer_norm(const float* x, int rows, const LayerNorm& norm, float* y);

void apply_activation(float* x, size_t count, Activation act);

// Scaled dot-product attention over `heads` heads of size head_dim, for the queries of tokens
// first_query .. first_query + queries - 1. q, out: [queries, heads * head_dim]; k, v: [tokens,
// heads * head_dim]. With `causal`, token i attends to tokens 0..i only.
void multi_head_attention(const float* q, int first_query, int queries, const float* k,
                          const float* v, int tokens, int heads, int head_dim, bool causal,
                          float* out, ThreadPool* pool);

// x[rows, dim] /= ||x[row]||.
void l2_normalize_rows(float* x, int rows, int dim);

}  // namespace clip

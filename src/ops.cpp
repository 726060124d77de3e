#include "ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common.h"

namespace clip {

Linear::Linear(const float* weight, const float* bias, int out_features, int in_features,
               WeightFormat format)
    : in_(in_features), out_(out_features), format_(format) {
  const size_t count = static_cast<size_t>(out_) * in_;
  if (format_ == WeightFormat::f32) {
    weight_.assign(weight, weight + count);
  } else {
    // Symmetric per-output-channel int8: scale = max|w| / 127.
    weight_q8_.resize(count);
    scales_.resize(out_);
    for (int o = 0; o < out_; ++o) {
      const float* row = weight + static_cast<size_t>(o) * in_;
      float max_abs = 0.f;
      for (int i = 0; i < in_; ++i) max_abs = std::max(max_abs, std::fabs(row[i]));
      const float scale = max_abs > 0.f ? max_abs / 127.f : 1.f;
      scales_[o] = scale;
      for (int i = 0; i < in_; ++i) {
        weight_q8_[static_cast<size_t>(o) * in_ + i] =
            static_cast<int8_t>(std::lrint(std::clamp(row[i] / scale, -127.f, 127.f)));
      }
    }
  }
  if (bias) bias_.assign(bias, bias + out_);
}

size_t Linear::packed_bytes() const {
  return weight_.size() * sizeof(float) + weight_q8_.size() + scales_.size() * sizeof(float) +
         bias_.size() * sizeof(float);
}

void Linear::forward(const float* x, int rows, float* y, Activation act, ThreadPool* pool) const {
  parallel_for(pool, static_cast<size_t>(rows), [&](size_t r) {
    const float* xr = x + r * in_;
    float* yr = y + r * out_;
    for (int o = 0; o < out_; ++o) {
      float sum = 0.f;
      if (format_ == WeightFormat::f32) {
        const float* w = weight_.data() + static_cast<size_t>(o) * in_;
        for (int i = 0; i < in_; ++i) sum += xr[i] * w[i];
      } else {
        const int8_t* w = weight_q8_.data() + static_cast<size_t>(o) * in_;
        for (int i = 0; i < in_; ++i) sum += xr[i] * static_cast<float>(w[i]);
        sum *= scales_[o];
      }
      yr[o] = sum + (bias_.empty() ? 0.f : bias_[o]);
    }
    apply_activation(yr, static_cast<size_t>(out_), act);
  });
}

void layer_norm(const float* x, int rows, const LayerNorm& norm, float* y) {
  const int dim = static_cast<int>(norm.gamma.size());
  for (int r = 0; r < rows; ++r) {
    const float* xr = x + static_cast<size_t>(r) * dim;
    float* yr = y + static_cast<size_t>(r) * dim;
    double mean = 0.0;
    for (int i = 0; i < dim; ++i) mean += xr[i];
    mean /= dim;
    double var = 0.0;
    for (int i = 0; i < dim; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    var /= dim;
    const float inv = static_cast<float>(1.0 / std::sqrt(var + norm.eps));
    for (int i = 0; i < dim; ++i) {
      yr[i] = (xr[i] - static_cast<float>(mean)) * inv * norm.gamma[i] + norm.beta[i];
    }
  }
}

void apply_activation(float* x, size_t count, Activation act) {
  switch (act) {
    case Activation::none:
      return;
    case Activation::quick_gelu:
      for (size_t i = 0; i < count; ++i) x[i] = x[i] / (1.f + std::exp(-1.702f * x[i]));
      return;
    case Activation::gelu:
      for (size_t i = 0; i < count; ++i) {
        x[i] = 0.5f * x[i] * (1.f + std::erf(x[i] * 0.70710678118654752f));
      }
      return;
  }
}

void multi_head_attention(const float* q, const float* k, const float* v, int tokens, int heads,
                          int head_dim, bool causal, float* out, ThreadPool* pool) {
  const int width = heads * head_dim;
  const float scale = 1.f / std::sqrt(static_cast<float>(head_dim));
  // One task per (head, query token): each owns one output slice, no shared scratch.
  parallel_for(pool, static_cast<size_t>(heads) * tokens, [&](size_t task) {
    const int h = static_cast<int>(task / tokens);
    const int i = static_cast<int>(task % tokens);
    const int visible = causal ? i + 1 : tokens;
    std::vector<float> scores(visible);
    const float* qi = q + static_cast<size_t>(i) * width + h * head_dim;
    float max_score = -INFINITY;
    for (int j = 0; j < visible; ++j) {
      const float* kj = k + static_cast<size_t>(j) * width + h * head_dim;
      float dot = 0.f;
      for (int d = 0; d < head_dim; ++d) dot += qi[d] * kj[d];
      scores[j] = dot * scale;
      max_score = std::max(max_score, scores[j]);
    }
    float sum = 0.f;
    for (int j = 0; j < visible; ++j) {
      scores[j] = std::exp(scores[j] - max_score);
      sum += scores[j];
    }
    float* oi = out + static_cast<size_t>(i) * width + h * head_dim;
    std::fill(oi, oi + head_dim, 0.f);
    for (int j = 0; j < visible; ++j) {
      const float p = scores[j] / sum;
      const float* vj = v + static_cast<size_t>(j) * width + h * head_dim;
      for (int d = 0; d < head_dim; ++d) oi[d] += p * vj[d];
    }
  });
}

void l2_normalize_rows(float* x, int rows, int dim) {
  for (int r = 0; r < rows; ++r) {
    float* xr = x + static_cast<size_t>(r) * dim;
    double norm = 0.0;
    for (int i = 0; i < dim; ++i) norm += static_cast<double>(xr[i]) * xr[i];
    const float inv = norm > 0.0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.f;
    for (int i = 0; i < dim; ++i) xr[i] *= inv;
  }
}

}  // namespace clip

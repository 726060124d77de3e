// The CLIP model: image and text towers over packed weights, producing L2-normalized embeddings.
// Data flows one way: preprocessed pixels / token ids -> encoders -> embeddings.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model-config.h"
#include "model-weights.h"
#include "thread-pool.h"

namespace clip {

struct ModelOptions {
  WeightFormat format = WeightFormat::f32;  // how linear layers are packed (q8: int8 weights)
  int threads = 0;                          // 0 = hardware concurrency
  // false: the model runs on the calling thread until start_threads(). The wasm module starts
  // them once its worker threads have loaded, so that reading weights need not wait for them.
  bool start_threads = true;
  // Bytes the weights may take, 0 = no limit. The wasm build passes its heap's maximum, so a
  // header declaring a larger model fails at once instead of after streaming gigabytes.
  uint64_t memory_limit = 0;
};

class Model {
 public:
  Model(ModelConfig config, ModelOptions options);

  const ModelConfig& config() const { return config_; }
  const ModelOptions& options() const { return options_; }
  // A tower is ready once all its weights are in; the image tower can answer while text streams
  // (from the thread that feeds the loader: model-loader.h). embed_images and embed_text may be
  // called from several threads: the calls run one at a time.
  bool vision_ready() const { return vision_ready_; }
  bool text_ready() const { return text_ready_; }
  float logit_scale() const { return logit_scale_; }  // already exp()'d: CLIP's temperature
  size_t weight_bytes() const;
  int threads() const { return pool_ ? pool_->size() : 1; }
  // Starts the worker threads of a model made with start_threads = false (ThreadPool::start).
  void start_threads();

  // pixels: [batch, 3, S, S] preprocessed (image.h). Returns [batch, embed_dim], L2-normalized.
  std::vector<float> embed_images(const float* pixels, int batch);
  // tokens: [start, ..., end] at true length, 1..context_length ids. Returns [embed_dim],
  // L2-normalized.
  std::vector<float> embed_text(const std::vector<int32_t>& tokens);

 private:
  friend class ModelLoader;
  void encode_image(const float* pixels, float* embedding);
  float* workspace(size_t floats);  // x then scratch, from the reused arena

  ModelConfig config_;
  ModelOptions options_;
  std::unique_ptr<ThreadPool> pool_;
  VisionWeights vision_;
  TextWeights text_;
  float logit_scale_ = 100.f;
  bool vision_ready_ = false;
  bool text_ready_ = false;
  std::mutex run_mutex_;      // one forward pass at a time: the workspace is shared
  std::vector<float> arena_;  // activations, allocated once at the largest size used
};

}  // namespace clip

#include "clip-model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common.h"
#include "transformer.h"

namespace clip {

Model::Model(ModelConfig config, ModelOptions options)
    : config_(std::move(config)), options_(options) {
  if (options_.threads < 0) fail("threads must be >= 0 (0 = all cores), got ", options_.threads);
  // Attention reads heads x (width / heads) columns: any remainder would be silently left out.
  for (const TransformerConfig* t : {config_.vision ? &config_.vision->transformer : nullptr,
                                     config_.text ? &config_.text->transformer : nullptr}) {
    if (t && (t->heads < 1 || t->width % t->heads != 0)) {
      fail("weights: width ", t->width, " does not split into ", t->heads,
           " attention heads; a config file must give the head count");
    }
  }
  pool_ = std::make_unique<ThreadPool>(options_.threads, options_.start_threads);
}

void Model::start_threads() {
  std::lock_guard<std::mutex> lock(run_mutex_);  // not while a forward pass runs on the pool
  pool_->start();
}

size_t Model::weight_bytes() const {
  size_t bytes = 0;
  auto add_block = [&](const TransformerBlock& b) {
    for (const Linear* l : {&b.q, &b.k, &b.v, &b.out, &b.fc1, &b.fc2}) bytes += l->packed_bytes();
    bytes += (b.ln1.gamma.size() * 2 + b.ln2.gamma.size() * 2) * sizeof(float);
  };
  for (const auto& b : vision_.blocks) add_block(b);
  for (const auto& b : text_.blocks) add_block(b);
  bytes += vision_.patch_embedding.packed_bytes() + vision_.projection.packed_bytes() +
           text_.projection.packed_bytes();
  bytes += (vision_.class_embedding.size() + vision_.positions.size() + text_.positions.size()) *
               sizeof(float) +
           text_.token_embedding.bytes();
  return bytes;
}

float* Model::workspace(size_t floats) {
  if (arena_.size() < floats) arena_.resize(floats);
  return arena_.data();
}

std::vector<float> Model::embed_images(const float* pixels, int batch) {
  if (!config_.vision) fail("this model has no image tower");
  if (!vision_ready_) fail("the image tower is not loaded yet");
  if (batch <= 0) fail("embed_images: batch must be >= 1, got ", batch);
  if (!pixels) fail("embed_images: no pixels");
  const int size = config_.vision->image_size;
  const size_t image_floats = static_cast<size_t>(3) * size * size;
  // A NaN or an infinity would only come out as a NaN embedding: refuse it where it can still be
  // named.
  for (size_t i = 0; i < image_floats * static_cast<size_t>(batch); ++i) {
    if (!std::isfinite(pixels[i])) {
      fail("embed_images: image ", i / image_floats, " has a non-finite value (", pixels[i],
           ") at index ", i % image_floats, " of its preprocessed pixels");
    }
  }
  std::vector<float> embeddings(static_cast<size_t>(batch) * config_.embed_dim);
  std::lock_guard<std::mutex> lock(run_mutex_);
  const ThreadPool::Pass pass(pool_.get());
  for (int b = 0; b < batch; ++b) {
    encode_image(pixels + b * image_floats,
                 embeddings.data() + static_cast<size_t>(b) * config_.embed_dim);
  }
  return embeddings;
}

void Model::encode_image(const float* pixels, float* embedding) {
  const VisionConfig& vc = *config_.vision;
  const TransformerConfig& tc = vc.transformer;
  const int p = vc.patch_size, grid = vc.grid(), size = vc.image_size;
  const int tokens = vc.tokens(), width = tc.width, patch_len = 3 * p * p;

  const size_t patch_floats = static_cast<size_t>(grid) * grid * patch_len;
  float* x = workspace(static_cast<size_t>(tokens) * width +
                       std::max(transformer_workspace_size(tc, tokens), patch_floats));
  float* scratch = x + static_cast<size_t>(tokens) * width;  // transformer workspace
  // Patch embedding as a GEMM: rows are flattened patches in the conv weight's (c, ky, kx) order.
  float* patches = scratch;  // [grid*grid, 3*p*p], reuses the scratch before the blocks run
  for (int gy = 0; gy < grid; ++gy) {
    for (int gx = 0; gx < grid; ++gx) {
      float* row = patches + static_cast<size_t>(gy * grid + gx) * patch_len;
      for (int c = 0; c < 3; ++c) {
        for (int ky = 0; ky < p; ++ky) {
          const float* src = pixels + (static_cast<size_t>(c) * size + gy * p + ky) * size + gx * p;
          std::memcpy(row + (c * p + ky) * p, src, sizeof(float) * p);
        }
      }
    }
  }
  vision_.patch_embedding.forward(patches, grid * grid, x + width, Activation::none, pool_.get());
  std::memcpy(x, vision_.class_embedding.data(), sizeof(float) * width);
  for (size_t i = 0; i < static_cast<size_t>(tokens) * width; ++i) x[i] += vision_.positions[i];

  layer_norm(x, tokens, vision_.ln_pre, x);
  transformer_forward(tc, vision_.blocks, x, tokens, /*causal=*/false, /*output_token=*/0, scratch,
                      pool_.get());
  layer_norm(x, 1, vision_.ln_post, x);  // class token only
  vision_.projection.forward(x, 1, embedding, Activation::none, pool_.get());
  l2_normalize_rows(embedding, 1, config_.embed_dim);
}

std::vector<float> Model::embed_text(const std::vector<int32_t>& tokens) {
  if (!config_.text) fail("this model has no text tower");
  if (!text_ready_) fail("the text tower is not loaded yet");
  const TextConfig& tc = *config_.text;
  const int count = static_cast<int>(tokens.size());
  if (count == 0) fail("embed_text: no tokens");
  if (count > tc.context_length) {
    fail("embed_text: ", count, " tokens exceed the context length ", tc.context_length);
  }
  for (int i = 0; i < count; ++i) {
    if (tokens[i] < 0 || tokens[i] >= tc.vocab_size) {
      fail("embed_text: token id ", tokens[i], " at position ", i,
           " is outside the vocabulary [0, ", tc.vocab_size, ")");
    }
  }
  // Pool at end-of-text: the reference takes the position of the largest id (first occurrence),
  // which is the end token in CLIP's vocabulary. Under the causal mask no token after it can
  // change its row, so only tokens 0..pooled run (padding, if given, is never computed).
  const int pooled =
      static_cast<int>(std::max_element(tokens.begin(), tokens.end()) - tokens.begin());
  const int run = pooled + 1;
  const int width = tc.transformer.width;
  std::lock_guard<std::mutex> lock(run_mutex_);
  const ThreadPool::Pass pass(pool_.get());
  float* x = workspace(static_cast<size_t>(run) * width +
                       transformer_workspace_size(tc.transformer, run));  // [run, width] + scratch
  float* scratch = x + static_cast<size_t>(run) * width;
  for (int i = 0; i < run; ++i) {
    float* row = x + static_cast<size_t>(i) * width;
    text_.token_embedding.row(tokens[i], row);
    const float* position = text_.positions.data() + static_cast<size_t>(i) * width;
    for (int d = 0; d < width; ++d) row[d] += position[d];
  }
  transformer_forward(tc.transformer, text_.blocks, x, run, /*causal=*/true,
                      /*output_token=*/pooled, scratch, pool_.get());
  float* row = x + static_cast<size_t>(pooled) * width;
  layer_norm(row, 1, text_.ln_final, row);
  std::vector<float> embedding(config_.embed_dim);
  text_.projection.forward(row, 1, embedding.data(), Activation::none, pool_.get());
  l2_normalize_rows(embedding.data(), 1, config_.embed_dim);
  return embedding;
}

}  // namespace clip

// Weights of both towers, in the layout the encoders use (llama2.c-style plain structs).
#pragma once

#include <vector>

#include "embedding-table.h"
#include "model-config.h"
#include "ops.h"

namespace clip {

struct TransformerBlock {
  LayerNorm ln1;
  Linear q, k, v;  // [width, width] each
  Linear out;      // [width, width]
  LayerNorm ln2;
  Linear fc1;  // [mlp_dim, width]
  Linear fc2;  // [width, mlp_dim]
};

struct VisionWeights {
  Linear patch_embedding;              // [width, 3 * patch * patch], no bias
  std::vector<float> class_embedding;  // [width]
  std::vector<float> positions;        // [tokens, width]
  LayerNorm ln_pre;
  std::vector<TransformerBlock> blocks;
  LayerNorm ln_post;
  Linear projection;  // [embed_dim, width], no bias
};

struct TextWeights {
  EmbeddingTable token_embedding;  // [vocab, width]
  std::vector<float> positions;    // [context, width]
  std::vector<TransformerBlock> blocks;
  LayerNorm ln_final;
  Linear projection;  // [embed_dim, width], no bias
};

}  // namespace clip

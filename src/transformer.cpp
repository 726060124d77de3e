#include "transformer.h"

namespace clip {

size_t transformer_workspace_size(const TransformerConfig& config, int tokens) {
  // h, q, k, v, attention output: [tokens, width] each; MLP hidden: [tokens, mlp_dim].
  return static_cast<size_t>(tokens) * (5 * config.width + config.mlp_dim);
}

void transformer_forward(const TransformerConfig& config,
                         const std::vector<TransformerBlock>& blocks, float* x, int tokens,
                         bool causal, float* workspace, ThreadPool* pool) {
  const size_t plane = static_cast<size_t>(tokens) * config.width;
  float* h = workspace;              // [tokens, width]
  float* q = h + plane;              // [tokens, width]
  float* k = q + plane;              // [tokens, width]
  float* v = k + plane;              // [tokens, width]
  float* attended = v + plane;       // [tokens, width]
  float* hidden = attended + plane;  // [tokens, mlp_dim]

  for (const TransformerBlock& block : blocks) {
    // x = x + out_proj(attention(ln1(x)))
    layer_norm(x, tokens, block.ln1, h);
    block.q.forward(h, tokens, q, Activation::none, pool);
    block.k.forward(h, tokens, k, Activation::none, pool);
    block.v.forward(h, tokens, v, Activation::none, pool);
    multi_head_attention(q, k, v, tokens, config.heads, config.head_dim(), causal, attended, pool);
    block.out.forward(attended, tokens, h, Activation::none, pool);
    for (size_t i = 0; i < plane; ++i) x[i] += h[i];

    // x = x + fc2(act(fc1(ln2(x))))
    layer_norm(x, tokens, block.ln2, h);
    block.fc1.forward(h, tokens, hidden, config.act, pool);
    block.fc2.forward(hidden, tokens, h, Activation::none, pool);
    for (size_t i = 0; i < plane; ++i) x[i] += h[i];
  }
}

}  // namespace clip

#include "transformer.h"

#include "common.h"

namespace clip {

size_t transformer_workspace_size(const TransformerConfig& config, int tokens) {
  // h, q, k, v, attention output: [tokens, width] each; MLP hidden: [tokens, mlp_dim].
  return static_cast<size_t>(tokens) * (5 * config.width + config.mlp_dim);
}

void transformer_forward(const TransformerConfig& config,
                         const std::vector<TransformerBlock>& blocks, float* x, int tokens,
                         bool causal, int output_token, float* workspace, ThreadPool* pool) {
  if (output_token < -1 || output_token >= tokens) {
    fail("transformer: output token ", output_token, " is outside the ", tokens, " tokens");
  }
  const size_t width = static_cast<size_t>(config.width);
  const size_t plane = static_cast<size_t>(tokens) * width;
  float* h = workspace;              // [tokens, width]
  float* q = h + plane;              // [tokens, width]
  float* k = q + plane;              // [tokens, width]
  float* v = k + plane;              // [tokens, width]
  float* attended = v + plane;       // [tokens, width]
  float* hidden = attended + plane;  // [tokens, mlp_dim]

  for (size_t b = 0; b < blocks.size(); ++b) {
    const TransformerBlock& block = blocks[b];
    // Rows whose output this block computes: all of them, except in the last block when only
    // one token is read afterwards. There every other row only feeds keys and values, so its
    // query, output projection and MLP would be wasted (in ViT-B/32, 49 of 50 tokens: ~7% of
    // the image tower's multiply-adds).
    const bool one_row = output_token >= 0 && b + 1 == blocks.size();
    const int first = one_row ? output_token : 0, rows = one_row ? 1 : tokens;
    float* x_rows = x + first * width;
    const size_t rows_size = static_cast<size_t>(rows) * width;

    // x = x + out_proj(attention(ln1(x)))
    layer_norm(x, tokens, block.ln1, h);
    block.q.forward(h + first * width, rows, q, Activation::none, pool);
    block.k.forward(h, tokens, k, Activation::none, pool);
    block.v.forward(h, tokens, v, Activation::none, pool);
    multi_head_attention(q, first, rows, k, v, tokens, config.heads, config.head_dim(), causal,
                         attended, pool);
    block.out.forward(attended, rows, h, Activation::none, pool);
    for (size_t i = 0; i < rows_size; ++i) x_rows[i] += h[i];

    // x = x + fc2(act(fc1(ln2(x))))
    layer_norm(x_rows, rows, block.ln2, h);
    block.fc1.forward(h, rows, hidden, config.act, pool);
    block.fc2.forward(hidden, rows, h, Activation::none, pool);
    for (size_t i = 0; i < rows_size; ++i) x_rows[i] += h[i];
  }
}

}  // namespace clip

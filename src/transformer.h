// The pre-LN residual transformer both towers share.
#pragma once

#include "model-config.h"
#include "model-weights.h"

namespace clip {

// Floats of scratch that transformer_forward needs for `tokens` tokens.
size_t transformer_workspace_size(const TransformerConfig& config, int tokens);

// x: [tokens, width], updated in place. workspace: transformer_workspace_size() floats.
// output_token: -1 to compute every row; else the one row read afterwards (CLIP pools a single
// token), and only that row of x holds the transformer's output.
void transformer_forward(const TransformerConfig& config,
                         const std::vector<TransformerBlock>& blocks, float* x, int tokens,
                         bool causal, int output_token, float* workspace, ThreadPool* pool);

}  // namespace clip

// The pre-LN residual transformer both towers share.
#pragma once

#include "model-config.h"
#include "model-weights.h"

namespace clip {

// Floats of scratch that transformer_forward needs for `tokens` tokens.
size_t transformer_workspace_size(const TransformerConfig& config, int tokens);

// x: [tokens, width], updated in place. workspace: transformer_workspace_size() floats.
void transformer_forward(const TransformerConfig& config,
                         const std::vector<TransformerBlock>& blocks, float* x, int tokens,
                         bool causal, float* workspace, ThreadPool* pool);

}  // namespace clip

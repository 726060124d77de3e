// Zero-shot classification: labels become text embeddings through prompt templates; images are
// scored against them as in the CLIP paper.
#pragma once

#include <string>
#include <vector>

#include "clip-model.h"
#include "tokenizer.h"

namespace clip {

// The plain prompt, and the seven-template ensemble the CLIP authors selected for ImageNet.
extern const std::vector<std::string> kDefaultTemplates;
extern const std::vector<std::string> kEnsembleTemplates;

// "a photo of a {}." + "cat" -> "a photo of a cat.". Throws if the template has no "{}".
std::string apply_template(const std::string& templ, const std::string& label);

// One embedding per label: the mean of its L2-normalized template embeddings, renormalized.
// Returns [labels, embed_dim].
std::vector<float> label_embeddings(Model& model, const Tokenizer& tokenizer,
                                    const std::vector<std::string>& labels,
                                    const std::vector<std::string>& templates);

// logits[b, l] = logit_scale * <image[b], label[l]>, softmaxed over labels. Returns [images,
// labels].
std::vector<float> zero_shot_probabilities(const float* image_embeddings, int images,
                                           const float* label_embeddings, int labels, int embed_dim,
                                           float logit_scale);

}  // namespace clip

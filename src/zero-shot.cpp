#include "zero-shot.h"

#include <algorithm>
#include <cmath>

#include "common.h"
#include "ops.h"

namespace clip {

const std::vector<std::string> kDefaultTemplates = {"a photo of a {}."};

const std::vector<std::string> kEnsembleTemplates = {
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
};

std::string apply_template(const std::string& templ, const std::string& label) {
  const size_t at = templ.find("{}");
  if (at == std::string::npos) fail("prompt template '", templ, "' has no {} for the label");
  return templ.substr(0, at) + label + templ.substr(at + 2);
}

std::vector<float> label_embeddings(Model& model, const Tokenizer& tokenizer,
                                    const std::vector<std::string>& labels,
                                    const std::vector<std::string>& templates) {
  if (labels.empty()) fail("no labels to classify against");
  if (templates.empty()) fail("no prompt templates");
  if (!model.config().text) fail("this model has no text tower");
  const int dim = model.config().embed_dim;
  const int context = model.config().text->context_length;
  std::vector<float> result(labels.size() * dim, 0.f);
  for (size_t l = 0; l < labels.size(); ++l) {
    float* mean = result.data() + l * dim;
    for (const std::string& templ : templates) {
      const std::vector<float> e =
          model.embed_text(tokenizer.tokenize(apply_template(templ, labels[l]), context));
      for (int d = 0; d < dim; ++d) mean[d] += e[d];
    }
    l2_normalize_rows(mean, 1, dim);
  }
  return result;
}

std::vector<float> zero_shot_probabilities(const float* image_embeddings, int images,
                                           const float* label_embeddings, int labels, int embed_dim,
                                           float logit_scale) {
  if (labels <= 0) fail("no labels to classify against");
  std::vector<float> probs(static_cast<size_t>(images) * labels);
  for (int b = 0; b < images; ++b) {
    float* row = probs.data() + static_cast<size_t>(b) * labels;
    const float* image = image_embeddings + static_cast<size_t>(b) * embed_dim;
    for (int l = 0; l < labels; ++l) {
      const float* label = label_embeddings + static_cast<size_t>(l) * embed_dim;
      float dot = 0.f;
      for (int d = 0; d < embed_dim; ++d) dot += image[d] * label[d];
      row[l] = logit_scale * dot;
    }
    const float max_logit = *std::max_element(row, row + labels);
    double sum = 0.0;
    for (int l = 0; l < labels; ++l) sum += row[l] = std::exp(row[l] - max_logit);
    for (int l = 0; l < labels; ++l) row[l] = static_cast<float>(row[l] / sum);
  }
  return probs;
}

}  // namespace clip

// Zero-shot classification against the CLIP paper's recipe computed by the Python reference:
// prompt templates, ensemble of normalized text embeddings, softmax(logit_scale * cosine).
#include <cmath>
#include <nlohmann/json.hpp>

#include "common.h"
#include "model-loader.h"
#include "test-support.h"
#include "zero-shot.h"

namespace clip {
namespace {

TEST(ZeroShot, TemplateEnsembleMatchesReference) {
  const std::string dir = test::fixture_path("models/tiny-hf");
  auto model = load_model_dir(dir);
  const Tokenizer tokenizer =
      Tokenizer::from_openai_bpe(test::read_file(dir + "/bpe_simple_vocab_16e6.txt"));
  const auto spec = nlohmann::json::parse(test::read_file(dir + "/zero_shot.json"));
  const auto labels = spec["labels"].get<std::vector<std::string>>();
  const auto templates = spec["templates"].get<std::vector<std::string>>();

  const auto classes = label_embeddings(*model, tokenizer, labels, templates);
  const auto expected_classes =
      test::read_f32_tensor(dir + "/zero_shot.safetensors", "label_embeds");
  ASSERT_EQ(classes.size(), expected_classes.size());
  double worst = 0;
  for (size_t i = 0; i < classes.size(); ++i)
    worst = std::max(worst, double(std::fabs(classes[i] - expected_classes[i])));
  EXPECT_LE(worst, 1e-4);
  test::record_figure("PARITY", "zero_shot_label_embed_max_abs", worst);

  const auto pixels = test::read_f32_tensor(dir + "/reference.safetensors", "pixel_values");
  const auto images = model->embed_images(pixels.data(), 2);
  const int dim = model->config().embed_dim;
  const auto probs = zero_shot_probabilities(
      images.data(), 2, classes.data(), static_cast<int>(labels.size()), dim, model->logit_scale());
  const auto expected_probs = test::read_f32_tensor(dir + "/zero_shot.safetensors", "probs");
  ASSERT_EQ(probs.size(), expected_probs.size());
  worst = 0;
  for (size_t i = 0; i < probs.size(); ++i)
    worst = std::max(worst, double(std::fabs(probs[i] - expected_probs[i])));
  EXPECT_LE(worst, 1e-4);
  test::record_figure("PARITY", "zero_shot_prob_max_abs", worst);
}

TEST(ZeroShot, BadInput) {
  const std::string dir = test::fixture_path("models/tiny-hf");
  auto model = load_model_dir(dir);
  const Tokenizer tokenizer =
      Tokenizer::from_openai_bpe(test::read_file(dir + "/bpe_simple_vocab_16e6.txt"));
  try {
    label_embeddings(*model, tokenizer, {}, kDefaultTemplates);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "no labels to classify against");
  }
  EXPECT_THROW(label_embeddings(*model, tokenizer, {"cat"}, {"no placeholder"}), Error);
  EXPECT_THROW(label_embeddings(*model, tokenizer, {"cat"}, {}), Error);
  EXPECT_EQ(apply_template("a photo of a {}.", "dog"), "a photo of a dog.");
}

}  // namespace
}  // namespace clip

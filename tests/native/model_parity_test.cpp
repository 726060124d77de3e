// The encoders against two independent references (Hugging Face transformers' CLIPModel and
// OpenAI's CLIP class), on random-weight checkpoints made by tools/make_model_fixtures.py.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "common.h"
#include "model-loader.h"
#include "test-support.h"
#include "zero-shot.h"

namespace clip {
namespace {

struct Tensor {
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
  const float* f32() const { return reinterpret_cast<const float*>(bytes.data()); }
  const int32_t* i32() const { return reinterpret_cast<const int32_t*>(bytes.data()); }
};

std::map<std::string, Tensor> read_tensors(const std::string& path) {
  std::map<std::string, Tensor> tensors;
  read_safetensors_file(
      path, [](const SafetensorsHeader&) {},
      [&](const TensorInfo& info, const uint8_t* data) {
        tensors[info.name] = {info.dtype, info.shape,
                              std::vector<uint8_t>(data, data + (info.end - info.begin))};
      });
  return tensors;
}

struct Agreement {
  double cos_min = 1.0;
  double max_abs = 0.0;
  void add(const float* a, const float* b, int n) {
    double dot = 0, na = 0, nb = 0;
    for (int i = 0; i < n; ++i) {
      dot += double(a[i]) * b[i];
      na += double(a[i]) * a[i];
      nb += double(b[i]) * b[i];
      max_abs = std::max(max_abs, std::fabs(double(a[i]) - b[i]));
    }
    cos_min = std::min(cos_min, dot / std::sqrt(na * nb));
  }
};

// Worst figures over every model, reported once at the end.
Agreement g_image, g_text;

class ModelParity : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelParity, EmbeddingsMatchReference) {
  const std::string dir = clip::test::fixture_path("models/" + GetParam());
  const auto ref = read_tensors(dir + "/reference.safetensors");
  std::shared_ptr<Model> model = load_model_dir(dir);
  ASSERT_TRUE(model->vision_ready());
  ASSERT_TRUE(model->text_ready());
  const int dim = model->config().embed_dim;

  const Tensor& pixels = ref.at("pixel_values");
  const int batch = static_cast<int>(pixels.shape[0]);
  const std::vector<float> images = model->embed_images(pixels.f32(), batch);
  Agreement image;
  for (int b = 0; b < batch; ++b)
    image.add(images.data() + b * dim, ref.at("image_embeds").f32() + b * dim, dim);

  const Tensor& ids = ref.at("input_ids");
  const Tensor& lengths = ref.at("lengths");
  const int context = static_cast<int>(ids.shape[1]);
  Agreement text;
  std::vector<float> text_embeds;
  for (int64_t t = 0; t < ids.shape[0]; ++t) {
    // True length: no padding, as the runtime does.
    const int32_t* row = ids.i32() + t * context;
    std::vector<int32_t> tokens(row, row + lengths.i32()[t]);
    const std::vector<float> e = model->embed_text(tokens);
    text.add(e.data(), ref.at("text_embeds").f32() + t * dim, dim);
    // The reference's padded row: tokens after end-of-text are never computed, so the result
    // is the true-length one exactly.
    if (lengths.i32()[t] < context) {
      EXPECT_EQ(model->embed_text(std::vector<int32_t>(row, row + context)), e) << "text " << t;
    }
    text_embeds.insert(text_embeds.end(), e.begin(), e.end());
  }
  EXPECT_NEAR(model->logit_scale(), ref.at("logit_scale").f32()[0], 1e-3);

  clip::test::record_figure("PARITY", GetParam() + "_image_cos_min", image.cos_min);
  clip::test::record_figure("PARITY", GetParam() + "_image_max_abs", image.max_abs);
  clip::test::record_figure("PARITY", GetParam() + "_text_cos_min", text.cos_min);
  clip::test::record_figure("PARITY", GetParam() + "_text_max_abs", text.max_abs);
  EXPECT_GE(image.cos_min, 0.99999);
  EXPECT_LE(image.max_abs, 1e-4);
  EXPECT_GE(text.cos_min, 0.99999);
  EXPECT_LE(text.max_abs, 1e-4);
  g_image.cos_min = std::min(g_image.cos_min, image.cos_min);
  g_image.max_abs = std::max(g_image.max_abs, image.max_abs);
  g_text.cos_min = std::min(g_text.cos_min, text.cos_min);
  g_text.max_abs = std::max(g_text.max_abs, text.max_abs);

  // Zero-shot probabilities: softmax(logit_scale * cosine) with the reference embeddings.
  const int labels = static_cast<int>(ids.shape[0]);
  const auto ours = zero_shot_probabilities(images.data(), batch, text_embeds.data(), labels, dim,
                                            model->logit_scale());
  const auto theirs =
      zero_shot_probabilities(ref.at("image_embeds").f32(), batch, ref.at("text_embeds").f32(),
                              labels, dim, ref.at("logit_scale").f32()[0]);
  for (size_t i = 0; i < ours.size(); ++i) EXPECT_NEAR(ours[i], theirs[i], 1e-4);
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, ModelParity,
                         ::testing::Values("tiny-hf", "tiny-hf-gelu-f16", "tiny-hf-bf16",
                                           "tiny-openai", "vit-b-32-hf", "vit-b-32-openai"));

// One summary line for all checkpoints, printed when the suite ends.
class ParitySummary : public ::testing::Environment {
 public:
  void TearDown() override {
    clip::test::record_figure("PARITY", "image_cos_min", g_image.cos_min);
    clip::test::record_figure("PARITY", "image_max_abs", g_image.max_abs);
    clip::test::record_figure("PARITY", "text_cos_min", g_text.cos_min);
    clip::test::record_figure("PARITY", "text_max_abs", g_text.max_abs);
  }
};
const auto* const g_summary = ::testing::AddGlobalTestEnvironment(new ParitySummary);

}  // namespace
}  // namespace clip

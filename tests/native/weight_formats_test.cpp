// f16 and int8 weights: files written by tools/convert_weights.py, and int8 packing at load,
// against the f32 model and the reference embeddings.
#include <cmath>

#include "model-loader.h"
#include "test-support.h"

namespace clip {
namespace {

struct Agreement {
  double cos_min = 1, cos_sum = 0, max_abs = 0;
  int count = 0;
};

// Cosine of each embedding row against the reference.
Agreement compare(const std::vector<float>& ours, const std::vector<float>& reference, int dim) {
  Agreement a;
  for (size_t row = 0; row * dim < ours.size(); ++row) {
    double dot = 0, na = 0, nb = 0;
    for (int d = 0; d < dim; ++d) {
      const double x = ours[row * dim + d], y = reference[row * dim + d];
      dot += x * y;
      na += x * x;
      nb += y * y;
      a.max_abs = std::max(a.max_abs, std::fabs(x - y));
    }
    const double cos = dot / std::sqrt(na * nb);
    a.cos_min = std::min(a.cos_min, cos);
    a.cos_sum += cos;
    ++a.count;
  }
  return a;
}

struct Embeddings {
  std::vector<float> images, texts;
};

Embeddings embed(const std::string& dir, WeightFormat format, const std::string& file) {
  auto model = load_model_dir(dir, {format, 0}, file);
  const std::string ref = dir + "/reference.safetensors";
  const auto pixels = test::read_f32_tensor(ref, "pixel_values");
  const int size = model->config().vision->image_size;
  Embeddings e;
  e.images =
      model->embed_images(pixels.data(), static_cast<int>(pixels.size() / (3 * size * size)));
  for (const auto& t : test::read_all_tensors(ref)) {
    if (t.name != "input_ids") continue;
    const int32_t* ids = reinterpret_cast<const int32_t*>(t.bytes.data());
    for (int64_t row = 0; row < t.shape[0]; ++row) {
      // True length: up to and including the end token.
      const int32_t* begin = ids + row * t.shape[1];
      const int32_t* end = std::find(begin, begin + t.shape[1], 49407) + 1;
      const auto text = model->embed_text(std::vector<int32_t>(begin, end));
      e.texts.insert(e.texts.end(), text.begin(), text.end());
    }
  }
  return e;
}

class WeightFormats : public ::testing::TestWithParam<std::string> {};

// Quantizing at load and loading the converter's int8 file give the same model.
TEST_P(WeightFormats, Int8FileEqualsInt8AtLoad) {
  const std::string dir = test::fixture_path("models/" + GetParam());
  const std::string stem =
      GetParam().find("openai") != std::string::npos ? "open_clip_model" : "model";
  const Embeddings at_load = embed(dir, WeightFormat::q8, "");
  const Embeddings from_file = embed(dir, WeightFormat::q8, stem + ".q8.safetensors");
  const int dim = static_cast<int>(at_load.images.size() / 2);
  EXPECT_LE(compare(from_file.images, at_load.images, dim).max_abs, 1e-5);
  EXPECT_LE(compare(from_file.texts, at_load.texts, dim).max_abs, 1e-5);
}

// Fidelity of each stored form against the reference implementation's f32 embeddings.
TEST_P(WeightFormats, FidelityAgainstReference) {
  const std::string dir = test::fixture_path("models/" + GetParam());
  const std::string stem =
      GetParam().find("openai") != std::string::npos ? "open_clip_model" : "model";
  const std::string ref = dir + "/reference.safetensors";
  const auto image_ref = test::read_f32_tensor(ref, "image_embeds");
  const auto text_ref = test::read_f32_tensor(ref, "text_embeds");
  const int dim = static_cast<int>(image_ref.size() / 2);
  struct Case {
    const char* name;
    WeightFormat format;
    std::string file;
    double min_cos;
  };
  for (const Case& c : {Case{"f16", WeightFormat::f32, stem + ".fp16.safetensors", 0.9999},
                        Case{"q8", WeightFormat::q8, stem + ".q8.safetensors", 0.995}}) {
    const Embeddings e = embed(dir, c.format, c.file);
    for (const auto& [tower, ours, theirs] :
         {std::tuple{"image", &e.images, &image_ref}, std::tuple{"text", &e.texts, &text_ref}}) {
      const Agreement a = compare(*ours, *theirs, dim);
      const std::string key = GetParam() + "_" + c.name + "_" + tower;
      test::record_figure("FIDELITY", key + "_cos_min", a.cos_min);
      test::record_figure("FIDELITY", key + "_cos_mean", a.cos_sum / a.count);
      EXPECT_GE(a.cos_min, c.min_cos) << key;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Checkpoints, WeightFormats,
                         ::testing::Values("tiny-hf", "tiny-openai", "vit-b-32-hf"));

TEST(WeightFormats, Int8KeepsAQuarterOfTheWeights) {
  const std::string dir = test::fixture_path("models/tiny-hf");
  const size_t f32 = load_model_dir(dir, {WeightFormat::f32, 1})->weight_bytes();
  const size_t q8 =
      load_model_dir(dir, {WeightFormat::q8, 1}, "model.q8.safetensors")->weight_bytes();
  test::record_figure("FIDELITY", "tiny-hf_q8_weight_bytes_ratio", static_cast<double>(q8) / f32);
  EXPECT_LT(q8 * 3, f32);
}

}  // namespace
}  // namespace clip

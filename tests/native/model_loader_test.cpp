// Loading: partial checkpoints, streaming readiness, threads, and every kind of bad checkpoint.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "common.h"
#include "model-loader.h"
#include "test-support.h"

namespace clip {
namespace {

using test::OwnedTensor;

std::string tiny_dir() {
  return test::fixture_path("models/tiny-hf");
}

std::vector<float> reference(const std::string& name) {
  return test::read_f32_tensor(tiny_dir() + "/reference.safetensors", name);
}

bool is_text(const std::string& name) {
  return name.rfind("text_model.", 0) == 0 || name == "text_projection.weight";
}

// The tiny checkpoint's tensors with the image tower first.
std::vector<OwnedTensor> tiny_tensors() {
  auto tensors = test::read_all_tensors(tiny_dir() + "/model.safetensors");
  std::stable_partition(tensors.begin(), tensors.end(),
                        [](const OwnedTensor& t) { return !is_text(t.name); });
  return tensors;
}

std::shared_ptr<Model> load_bytes(const std::vector<uint8_t>& file, const std::string& config = {},
                                  ModelOptions options = {}) {
  ModelLoader loader(options, config, {}, file.size());
  loader.feed(file.data(), file.size());
  loader.finish();
  return loader.model();
}

std::string load_error(const std::vector<uint8_t>& file, const std::string& config = {}) {
  try {
    load_bytes(file, config);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

double max_abs_diff(const std::vector<float>& a, const float* b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
  return worst;
}

TEST(ModelLoader, ImageTowerAnswersBeforeTextArrives) {
  const auto tensors = tiny_tensors();
  const auto file = test::write_safetensors(tensors);
  // Everything up to the first text tensor's end: the whole image tower.
  size_t vision_bytes = file.size();
  for (const auto& t : tensors) {
    if (is_text(t.name)) vision_bytes -= t.bytes.size();
  }
  ModelLoader loader({}, test::read_file(tiny_dir() + "/config.json"), {}, file.size());
  loader.feed(file.data(), vision_bytes);
  ASSERT_NE(loader.model(), nullptr);
  EXPECT_TRUE(loader.model()->vision_ready());
  EXPECT_FALSE(loader.model()->text_ready());
  const auto pixels = reference("pixel_values");
  const auto image = loader.model()->embed_images(pixels.data(), 1);
  EXPECT_LE(max_abs_diff(image, reference("image_embeds").data()), 1e-4);
  EXPECT_THROW(loader.model()->embed_text({49406, 49407}), Error);

  loader.feed(file.data() + vision_bytes, file.size() - vision_bytes);
  loader.finish();
  EXPECT_TRUE(loader.model()->text_ready());
}

TEST(ModelLoader, VisionOnlyAndTextOnlyCheckpoints) {
  auto tensors = tiny_tensors();
  std::vector<OwnedTensor> vision, text;
  for (const auto& t : tensors) (is_text(t.name) ? text : vision).push_back(t);
  vision.erase(
      std::remove_if(vision.begin(), vision.end(), [](auto& t) { return t.name == "logit_scale"; }),
      vision.end());

  auto vision_model = load_bytes(test::write_safetensors(vision));
  EXPECT_TRUE(vision_model->config().vision.has_value());
  EXPECT_FALSE(vision_model->config().text.has_value());
  const auto pixels = reference("pixel_values");
  EXPECT_LE(
      max_abs_diff(vision_model->embed_images(pixels.data(), 1), reference("image_embeds").data()),
      1e-4);
  try {
    vision_model->embed_text({49406, 49407});
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "this model has no text tower");
  }

  // Text tower: the reference's first sequence has length 2 ([start, end]) and 2 heads from config.
  auto text_model =
      load_bytes(test::write_safetensors(text), test::read_file(tiny_dir() + "/config.json"));
  EXPECT_FALSE(text_model->config().vision.has_value());
  EXPECT_LE(max_abs_diff(text_model->embed_text({49406, 49407}), reference("text_embeds").data()),
            1e-4);
}

TEST(ModelLoader, ThreadCountDoesNotChangeResults) {
  const auto file = test::write_safetensors(tiny_tensors());
  const std::string config = test::read_file(tiny_dir() + "/config.json");
  const auto pixels = reference("pixel_values");
  const auto one = load_bytes(file, config, {WeightFormat::f32, 1})->embed_images(pixels.data(), 2);
  const auto two = load_bytes(file, config, {WeightFormat::f32, 2})->embed_images(pixels.data(), 2);
  EXPECT_LE(max_abs_diff(one, two.data()), 1e-6);
}

// Read through windows, as the package reads a local file, large tensors land in their final
// memory (the token embedding's table, linear weights' packed buffers) and the ready ones are
// processed between the reads; with place_all() they are read there before the windows reach
// them, and their windows are committed unread. Either way the model computes exactly what a fed
// one does.
TEST(ModelLoader, WindowReadsPlaceLargeTensorsWithTheSameResults) {
  const std::string text = test::read_file(tiny_dir() + "/model.safetensors");
  const std::vector<uint8_t> file(text.begin(), text.end());
  const std::string config = test::read_file(tiny_dir() + "/config.json");
  for (bool ahead : {false, true}) {
    for (int threads : {1, 2}) {
      const ModelOptions options{WeightFormat::f32, threads};
      ModelLoader loader(options, config, {}, file.size());
      std::map<const uint8_t*, uint64_t> read_ahead;  // where -> bytes
      size_t pos = 0;
      while (pos < file.size()) {
        if (ahead && read_ahead.empty() && loader.model()) {
          for (const ModelLoader::Placement& p : loader.place_all()) {
            std::copy_n(file.data() + p.file_offset, p.size, p.data);
            read_ahead[p.data] = p.size;
          }
          EXPECT_EQ(read_ahead.size(), 9u);
          EXPECT_TRUE(loader.place_all().empty());  // nothing left to place
        }
        const SafetensorsStream::Window window = loader.window(1 << 20);
        const size_t n = std::min(window.size, file.size() - pos);
        const auto early = read_ahead.find(window.data);
        if (early != read_ahead.end()) {
          EXPECT_EQ(early->second, n);
        } else {
          std::copy_n(file.data() + pos, n, window.data);
        }
        if (n >= SafetensorsStream::kDirectBytes) loader.process_ready();
        loader.commit(n);
        pos += n;
      }
      loader.finish();
      // This checkpoint's tensors of kDirectBytes or more: the token embedding and the two MLP
      // weights of each of the 2 + 2 layers.
      EXPECT_EQ(loader.tensors_read_in_place(), 9u);
      const auto fed = load_bytes(file, config, options);
      const auto pixels = reference("pixel_values");
      EXPECT_EQ(loader.model()->embed_images(pixels.data(), 2),
                fed->embed_images(pixels.data(), 2));
      EXPECT_EQ(loader.model()->embed_text({49406, 320, 1125, 49407}),
                fed->embed_text({49406, 320, 1125, 49407}));
    }
  }
}

TEST(ModelLoader, MissingTensorsAreListedByName) {
  auto tensors = tiny_tensors();
  tensors.erase(
      std::remove_if(tensors.begin(), tensors.end(),
                     [](auto& t) { return t.name.find("layers.1.mlp.fc2") != std::string::npos; }),
      tensors.end());
  const std::string error = load_error(test::write_safetensors(tensors));
  EXPECT_NE(error.find("tensors missing"), std::string::npos) << error;
  EXPECT_NE(error.find("vision_model.encoder.layers.1.mlp.fc2.weight"), std::string::npos) << error;
  EXPECT_NE(error.find("text_model.encoder.layers.1.mlp.fc2.bias"), std::string::npos) << error;
}

TEST(ModelLoader, WrongShapeNamesTensorAndShapes) {
  auto tensors = tiny_tensors();
  for (auto& t : tensors) {
    if (t.name == "vision_model.encoder.layers.0.self_attn.k_proj.bias") {
      t.shape = {32};
      t.bytes.resize(32 * 4);
    }
  }
  const std::string error = load_error(test::write_safetensors(tensors));
  EXPECT_NE(
      error.find(
          "vision_model.encoder.layers.0.self_attn.k_proj.bias has shape [32], expected [64]"),
      std::string::npos)
      << error;
}

TEST(ModelLoader, UnsupportedWeightDtype) {
  auto tensors = tiny_tensors();
  for (auto& t : tensors) {
    if (t.name == "vision_model.post_layernorm.bias") t.dtype = DType::I32;
  }
  const std::string error = load_error(test::write_safetensors(tensors));
  EXPECT_NE(error.find("vision_model.post_layernorm.bias has dtype I32"), std::string::npos)
      << error;
}

TEST(ModelLoader, TruncatedStreamFailsAndNothingIsReady) {
  const auto file = test::write_safetensors(tiny_tensors());
  ModelLoader loader({}, {}, {}, file.size());
  loader.feed(file.data(), file.size() / 2);
  EXPECT_THROW(loader.finish(), Error);
  EXPECT_FALSE(loader.model()->text_ready());
}

TEST(ModelLoader, FolderErrorsNameTheWeightsFile) {
  // A folder whose model.safetensors is itself a folder, and one whose weights stop halfway:
  // each error says which file.
  const std::string dir = testing::TempDir() + "clip-folder-errors";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir + "/odd/model.safetensors");
  test::expect_error([&] { load_model_dir(dir + "/odd"); },
                     "odd/model.safetensors': read error (not a regular file?)");
  std::filesystem::create_directories(dir + "/cut");
  const auto file = test::write_safetensors(tiny_tensors());
  std::ofstream(dir + "/cut/model.safetensors", std::ios::binary)
      .write(reinterpret_cast<const char*>(file.data()),
             static_cast<std::streamsize>(file.size() / 2));
  test::expect_error([&] { load_model_dir(dir + "/cut"); }, "cut/model.safetensors': ");
  test::expect_error([&] { load_model_dir(dir + "/cut", {}, "model.q8.safetensors"); },
                     "no model.q8.safetensors in ");
  std::filesystem::remove_all(dir);
}

// A config file that is there but cannot be read must not be taken for an absent one: the
// defaults in its place would give other embeddings without a word.
TEST(ModelLoader, ConfigFilesThatCannotBeReadAreErrors) {
  const std::string dir = testing::TempDir() + "clip-unreadable-config";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto file = test::write_safetensors(tiny_tensors());
  std::ofstream(dir + "/model.safetensors", std::ios::binary)
      .write(reinterpret_cast<const char*>(file.data()), static_cast<std::streamsize>(file.size()));
  EXPECT_TRUE(load_model_dir(dir)->vision_ready());  // no config files at all: inferred
  for (const char* name : {"config.json", "preprocessor_config.json"}) {
    std::filesystem::create_directories(dir + "/" + name);
    test::expect_error([&] { load_model_dir(dir); },
                       std::string(name) + "' is a folder, not a file");
    std::filesystem::remove(dir + "/" + name);
  }
  std::filesystem::remove_all(dir);
}

// Older transformers checkpoints (like the hub's openai/clip-vit-base-patch32) carry I64
// position_ids buffers; they are not weights and must not stop the load.
TEST(ModelLoader, IgnoresPositionIdBuffers) {
  auto tensors = tiny_tensors();
  tensors.push_back(
      {"text_model.embeddings.position_ids", DType::I64, {1, 77}, std::vector<uint8_t>(77 * 8)});
  tensors.insert(
      tensors.begin(),
      {"vision_model.embeddings.position_ids", DType::I64, {1, 17}, std::vector<uint8_t>(17 * 8)});
  auto model = load_bytes(test::write_safetensors(tensors));
  EXPECT_TRUE(model->vision_ready());
  EXPECT_TRUE(model->text_ready());
}

TEST(ModelLoader, NotAClipCheckpoint) {
  OwnedTensor t{"encoder.weight", DType::F32, {2, 2}, std::vector<uint8_t>(16)};
  const std::string error = load_error(test::write_safetensors({t}));
  EXPECT_NE(error.find("not a CLIP checkpoint"), std::string::npos) << error;
}

TEST(ModelLoader, ConfigThatContradictsWeights) {
  const std::string error = load_error(test::write_safetensors(tiny_tensors()),
                                       R"({"vision_config": {"hidden_size": 999}})");
  EXPECT_NE(error.find("hidden_size is 999 but the weights say 64"), std::string::npos) << error;
  EXPECT_NE(load_error(test::write_safetensors(tiny_tensors()), "{not json")
                .find("config.json: not a JSON object"),
            std::string::npos);
  EXPECT_NE(load_error(test::write_safetensors(tiny_tensors()),
                       R"({"vision_config": {"hidden_act": "relu"}})")
                .find("hidden_act 'relu' is not supported"),
            std::string::npos);
}

TEST(ModelLoader, BadTokenIdsAndLengths) {
  auto model = load_bytes(test::write_safetensors(tiny_tensors()),
                          test::read_file(tiny_dir() + "/config.json"));
  EXPECT_THROW(model->embed_text({}), Error);
  EXPECT_THROW(model->embed_text({49406, 50000}), Error);
  EXPECT_THROW(model->embed_text(std::vector<int32_t>(78, 1)), Error);
  EXPECT_THROW(model->embed_images(nullptr, 1), Error);
  // Still usable afterwards.
  EXPECT_LE(max_abs_diff(model->embed_text({49406, 49407}), reference("text_embeds").data()), 1e-4);
}

}  // namespace
}  // namespace clip

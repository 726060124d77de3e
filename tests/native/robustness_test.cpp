// Hostile input at the C++ API, beyond what the per-module suites cover (safetensors_test,
// image_test, tokenizer_test, model_loader_test): checkpoints whose headers declare degenerate or
// enormous models, streams that claim far more than they send, deeply nested headers, unusual but
// valid images checked against Pillow, decompression-bomb JPEG headers, extreme aspect ratios,
// pathological text through the whole text tower, and one model shared by several threads.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common.h"
#include "image.h"
#include "model-loader.h"
#include "test-support.h"
#include "tokenizer.h"

namespace clip {
namespace {

using test::OwnedTensor;

template <typename Body>
std::string error_of(Body body) {
  try {
    body();
  } catch (const Error& error) {
    return error.what();
  }
  return "(no error)";
}

#define EXPECT_ERROR(body, needle)                                                \
  do {                                                                            \
    const std::string message = error_of([&] { body; });                          \
    EXPECT_NE(message.find(needle), std::string::npos) << "message: " << message; \
  } while (0)

const uint8_t* bytes_of(const std::string& s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}

std::string le64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(value >> (8 * i));
  return out;
}

// ---- synthetic checkpoints (Hugging Face names) of any size ----

struct Sizes {
  int width = 32;  // both towers
  int mlp = 64;
  int layers = 1;
  int vocab = 49408;
  int context = 77;
  int embed = 16;
  int patch = 8;
  int grid = 2;  // patches per side
};

struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};

std::vector<TensorSpec> checkpoint_specs(const Sizes& s) {
  const int64_t w = s.width;
  std::vector<TensorSpec> specs;
  auto block = [&](const std::string& prefix) {
    for (int i = 0; i < s.layers; ++i) {
      const std::string p = prefix + std::to_string(i) + ".";
      for (const char* norm : {"layer_norm1.", "layer_norm2."}) {
        specs.push_back({p + norm + "weight", {w}});
        specs.push_back({p + norm + "bias", {w}});
      }
      for (const char* proj : {"q_proj.", "k_proj.", "v_proj.", "out_proj."}) {
        specs.push_back({p + "self_attn." + proj + "weight", {w, w}});
        specs.push_back({p + "self_attn." + proj + "bias", {w}});
      }
      specs.push_back({p + "mlp.fc1.weight", {s.mlp, w}});
      specs.push_back({p + "mlp.fc1.bias", {s.mlp}});
      specs.push_back({p + "mlp.fc2.weight", {w, s.mlp}});
      specs.push_back({p + "mlp.fc2.bias", {w}});
    }
  };
  const std::string v = "vision_model.";
  specs.push_back({v + "embeddings.patch_embedding.weight", {w, 3, s.patch, s.patch}});
  specs.push_back({v + "embeddings.class_embedding", {w}});
  specs.push_back({v + "embeddings.position_embedding.weight", {int64_t{s.grid} * s.grid + 1, w}});
  specs.push_back({v + "pre_layrnorm.weight", {w}});
  specs.push_back({v + "pre_layrnorm.bias", {w}});
  block(v + "encoder.layers.");
  specs.push_back({v + "post_layernorm.weight", {w}});
  specs.push_back({v + "post_layernorm.bias", {w}});
  specs.push_back({"visual_projection.weight", {s.embed, w}});
  const std::string t = "text_model.";
  specs.push_back({t + "embeddings.token_embedding.weight", {s.vocab, w}});
  specs.push_back({t + "embeddings.position_embedding.weight", {s.context, w}});
  block(t + "encoder.layers.");
  specs.push_back({t + "final_layer_norm.weight", {w}});
  specs.push_back({t + "final_layer_norm.bias", {w}});
  specs.push_back({"text_projection.weight", {s.embed, w}});
  specs.push_back({"logit_scale", {}});
  return specs;
}

// F32 tensors with small deterministic values; layer-norm gains near 1.
std::vector<uint8_t> synthetic_checkpoint(const Sizes& s) {
  std::vector<OwnedTensor> tensors;
  uint32_t state = 12345;
  for (const TensorSpec& spec : checkpoint_specs(s)) {
    size_t count = 1;
    for (int64_t d : spec.shape) count *= static_cast<size_t>(d);
    const bool gain = spec.name.find("norm") != std::string::npos &&
                      spec.name.compare(spec.name.size() - 6, 6, "weight") == 0;
    std::vector<float> values(count);
    for (float& x : values) {
      state = state * 1664525u + 1013904223u;
      x = (static_cast<float>(state >> 8) / 16777216.0f - 0.5f) * 0.1f + (gain ? 1.0f : 0.0f);
    }
    OwnedTensor t{spec.name, DType::F32, spec.shape, std::vector<uint8_t>(count * 4)};
    if (count) std::memcpy(t.bytes.data(), values.data(), count * 4);
    tensors.push_back(std::move(t));
  }
  return test::write_safetensors(tensors);
}

// Only the header of a checkpoint of these sizes: what a server sends before the data.
std::string checkpoint_header(const Sizes& s, uint64_t* data_size = nullptr) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  uint64_t offset = 0;
  for (const TensorSpec& spec : checkpoint_specs(s)) {
    uint64_t bytes = 4;
    for (int64_t d : spec.shape) bytes *= static_cast<uint64_t>(d);
    header[spec.name] = {
        {"dtype", "F32"}, {"shape", spec.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  if (data_size) *data_size = offset;
  const std::string json = header.dump();
  return le64(json.size()) + json;
}

std::shared_ptr<Model> load_bytes(const std::vector<uint8_t>& file, ModelOptions options = {}) {
  ModelLoader loader(options, {}, {}, file.size());
  loader.feed(file.data(), file.size());
  loader.finish();
  return loader.model();
}

bool unit_and_finite(const std::vector<float>& v) {
  double norm = 0;
  for (float x : v) {
    if (!std::isfinite(x)) return false;
    norm += double(x) * x;
  }
  return std::fabs(norm - 1.0) < 1e-4;
}

TEST(RobustLoader, SyntheticCheckpointLoadsAndEmbeds) {
  // The baseline the degenerate variants below are cut from.
  auto model = load_bytes(synthetic_checkpoint(Sizes{}), {WeightFormat::f32, 1});
  ASSERT_TRUE(model->vision_ready() && model->text_ready());
  EXPECT_TRUE(unit_and_finite(model->embed_text({49406, 320, 49407})));
  const std::vector<float> pixels(3 * 16 * 16, 0.25f);
  EXPECT_TRUE(unit_and_finite(model->embed_images(pixels.data(), 1)));
}

TEST(RobustLoader, DegenerateSizesAreRefusedAtTheHeader) {
  // Every size a header implies must be at least 1: zero-width layers would normalize by zero,
  // an empty position table would give a zero-pixel image size, and an empty projection a
  // zero-dimensional embedding. Each is refused by name, before any data is read.
  struct Case {
    const char* what;
    Sizes sizes;
    const char* needle;
  };
  Sizes zero_width, zero_mlp, zero_vocab, zero_context, zero_embed, zero_grid;
  zero_width.width = 0;
  zero_mlp.mlp = 0;
  zero_vocab.vocab = 0;
  zero_context.context = 0;
  zero_embed.embed = 0;
  zero_grid.grid = 0;
  const Case cases[] = {
      {"width 0", zero_width, "width 0"},
      {"mlp 0", zero_mlp, "mlp.fc1.weight gives the MLP size 0"},
      {"vocab 0", zero_vocab, "token_embedding.weight gives the vocabulary size 0"},
      {"context 0", zero_context, "position_embedding.weight gives the context length 0"},
      {"embed 0", zero_embed, "projection.weight gives the embedding size 0"},
      {"grid 0", zero_grid, "position_embedding.weight must be [grid*grid + 1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string header = checkpoint_header(c.sizes);
    ModelLoader loader;
    EXPECT_ERROR(loader.feed(bytes_of(header), header.size()), c.needle);
    EXPECT_EQ(loader.model(), nullptr);
  }
}

TEST(RobustLoader, SizesBeyondWhatTheEncodersSupportAreRefusedAtTheHeader) {
  // A small header can declare an input side of a billion pixels or a context whose attention
  // scores overflow 32-bit sizes (wasm32): refused by name before any data.
  Sizes wide, long_context;
  wide.grid = 513;  // 513 x 8 = 4104 pixels
  long_context.context = 4097;
  ModelLoader wide_loader;
  const std::string wide_header = checkpoint_header(wide);
  EXPECT_ERROR(
      wide_loader.feed(bytes_of(wide_header), wide_header.size()),
      "give an input side of 4104 pixels (513 patches of 8), more than the 4096 supported");
  ModelLoader long_loader;
  const std::string long_header = checkpoint_header(long_context);
  EXPECT_ERROR(long_loader.feed(bytes_of(long_header), long_header.size()),
               "gives the context length 4097, more than the 4096 supported");
}

TEST(RobustLoader, ConfigIntegersBeyondIntAreRefused) {
  const std::string header = checkpoint_header(Sizes{});
  ModelLoader loader({}, R"({"text_config": {"num_attention_heads": 4294967300}})");
  EXPECT_ERROR(loader.feed(bytes_of(header), header.size()),
               "config: num_attention_heads is 4294967300, out of range");
}

TEST(RobustLoader, NormalizationNoImageCouldUseIsRefused) {
  const std::string header = checkpoint_header(Sizes{});
  ModelLoader zero_std({}, {}, R"({"image_std": [0, 1, 1]})");
  EXPECT_ERROR(
      zero_std.feed(bytes_of(header), header.size()),
      "preprocessor_config.json.image_std must be 3 positive finite numbers, got [0, 1, 1]");
  ModelLoader infinite_mean({}, {}, R"({"image_mean": [0.5, 1e39, 0.4]})");
  EXPECT_ERROR(infinite_mean.feed(bytes_of(header), header.size()),
               "preprocessor_config.json.image_mean must be 3 finite numbers, got [0.5, inf, 0.4]");
}

TEST(RobustLoader, WidthThatHeadsCannotSplitIsRefused) {
  // Without a config file, heads are width / 64. A width that is no multiple of that head count
  // would leave columns out of attention and give wrong embeddings without any error.
  Sizes sizes;
  sizes.width = 129;  // 2 heads of 64 cover 128 columns
  const std::string header = checkpoint_header(sizes);
  ModelLoader loader;
  EXPECT_ERROR(loader.feed(bytes_of(header), header.size()),
               "width 129 does not split into 2 attention heads");
  // With the head count from a config file it loads (129 = 3 x 43).
  ModelLoader configured({}, R"({"text_config": {"num_attention_heads": 3},
                               "vision_config": {"num_attention_heads": 3}})");
  EXPECT_NO_THROW(configured.feed(bytes_of(header), header.size()));
}

TEST(RobustLoader, ModelBeyondTheMemoryLimitFailsBeforeAnyData) {
  // ViT-L-sized towers declared in a header, with a 2 GB limit as in the threaded wasm build:
  // the load must stop at the header rather than stream gigabytes first.
  Sizes large;
  large.width = 1024;
  large.mlp = 4096;
  large.layers = 24;
  large.grid = 16;
  large.patch = 14;
  large.embed = 768;
  uint64_t data_size = 0;
  const std::string header = checkpoint_header(large, &data_size);
  ASSERT_GT(data_size, uint64_t{2} << 30);
  ModelOptions options;
  options.memory_limit = uint64_t{2} << 30;
  ModelLoader loader(options, {}, {}, header.size() + data_size);
  EXPECT_ERROR(loader.feed(bytes_of(header), header.size()),
               "more than the 2048 MB this runtime can hold");
  // As q8 (a byte per matrix weight) the same model fits.
  options.format = WeightFormat::q8;
  ModelLoader q8(options, {}, {}, header.size() + data_size);
  EXPECT_NO_THROW(q8.feed(bytes_of(header), header.size()));

  // The tiny checkpoint fits a small limit and loads as before.
  options.format = WeightFormat::f32;
  options.memory_limit = 64 << 20;
  EXPECT_TRUE(load_bytes(synthetic_checkpoint(Sizes{}), options)->text_ready());
  options.memory_limit = 1 << 20;
  EXPECT_ERROR(load_bytes(synthetic_checkpoint(Sizes{}), options), "this runtime can hold");
}

TEST(RobustLoader, HugeDeclaredModelOfUnknownSizeHoldsOnlyWhatArrived) {
  // A stream without a length whose header declares a large model and then sends little: the
  // model is planned (nothing is ready), finish() names the incomplete tensor, and the stream
  // buffer holds only the bytes that came.
  Sizes large;
  large.width = 2048;
  large.mlp = 8192;
  large.layers = 4;
  std::string file = checkpoint_header(large);
  file += std::string(1 << 20, '\0');
  ModelLoader loader;
  for (size_t at = 0; at < file.size(); at += 4096) {
    loader.feed(bytes_of(file) + at, std::min<size_t>(4096, file.size() - at));
  }
  ASSERT_NE(loader.model(), nullptr);
  EXPECT_FALSE(loader.model()->vision_ready());
  EXPECT_FALSE(loader.model()->text_ready());
  EXPECT_ERROR(loader.model()->embed_text({49406, 49407}), "not loaded yet");
  EXPECT_ERROR(loader.finish(), "is incomplete");
}

// ---- safetensors streams ----

TEST(RobustSafetensors, DeepNestingInIgnoredFieldsIsBounded) {
  // Unknown fields of a tensor entry are skipped whatever they hold; 200,000 levels of nesting
  // must neither exhaust the stack nor be mistaken for tensor fields.
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  const std::string json =
      R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2],"x":)" + deep + "}}";
  const std::string file = le64(json.size()) + json + "ok";
  int tensors = 0;
  SafetensorsStream stream(nullptr, [&](const TensorInfo& info, const uint8_t* data) {
    EXPECT_EQ(info.name, "a");
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(data), 2), "ok");
    ++tensors;
  });
  stream.feed(bytes_of(file), file.size());
  stream.finish();
  EXPECT_EQ(tensors, 1);
  // The same nesting where a string is required is refused at its first bracket.
  const std::string metadata = R"({"__metadata__":{"k":)" + deep + "}}";
  SafetensorsStream refused(nullptr, nullptr);
  const std::string bad = le64(metadata.size()) + metadata;
  EXPECT_ERROR(refused.feed(bytes_of(bad), bad.size()), "__metadata__ value for 'k' is an array");
}

TEST(RobustSafetensors, UnknownSizeStreamBuffersOnlyWhatArrives) {
  // A 2 GB tensor (the per-tensor limit) declared, 1 MB sent in small chunks.
  const std::string json =
      R"({"big":{"dtype":"U8","shape":[2147483648],"data_offsets":[0,2147483648]}})";
  const std::string head = le64(json.size()) + json;
  SafetensorsStream stream(nullptr, [](const TensorInfo&, const uint8_t*) {
    ADD_FAILURE() << "an incomplete tensor was handed out";
  });
  stream.feed(bytes_of(head), head.size());
  const std::string chunk(4096, 'x');
  for (int i = 0; i < 256; ++i) stream.feed(bytes_of(chunk), chunk.size());
  EXPECT_LE(stream.buffer_capacity(), size_t{2} << 20);
  EXPECT_ERROR(stream.finish(), "(tensor 'big' is incomplete)");
}

// ---- images ----

RgbImage decode_string(const std::string& bytes, const ImageLimits& limits = {}) {
  return decode_image(bytes_of(bytes), bytes.size(), limits);
}

TEST(RobustImages, UnusualValidFilesDecodeAsPillowDoes) {
  // Every valid image seed of the fuzzer (tools/make_fuzz_seeds.py): PNG in each colour type and
  // depth, Adam7, BMP 1/8/24/32-bit, GIF with transparency and animation, JPEG baseline,
  // progressive, gray and CMYK. PNG, BMP and GIF must match exactly; JPEG within the levels
  // image.h states for stb's conversions (CMYK), exactly otherwise.
  const nlohmann::json manifest =
      nlohmann::json::parse(test::read_file(test::fixture_path("robustness/pixels.json")));
  ASSERT_GE(manifest.size(), 20u);
  int worst_cmyk = 0;
  for (const auto& [name, info] : manifest.items()) {
    SCOPED_TRACE(name);
    const std::string file = test::read_file(test::fixture_path("fuzz/image/" + name));
    const std::string want =
        test::read_file(test::fixture_path("robustness/pixels/" + name + ".rgb"));
    RgbImage image;
    ASSERT_NO_THROW(image = decode_string(file));
    ASSERT_EQ(image.width, info["width"].get<int>());
    ASSERT_EQ(image.height, info["height"].get<int>());
    ASSERT_EQ(image.pixels.size(), want.size());
    int worst = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      worst = std::max(worst, std::abs(int(image.pixels[i]) - int(uint8_t(want[i]))));
    }
    if (name == "cmyk.jpg") {
      worst_cmyk = worst;
      EXPECT_LE(worst, 3);
    } else {
      EXPECT_EQ(worst, 0);
    }
    // Decoding is deterministic: nothing of the previous call leaks into the next.
    EXPECT_EQ(decode_string(file).pixels, image.pixels);
  }
  test::record_figure("ROBUST", "cmyk_jpeg_max_level_diff", worst_cmyk);
}

std::string patch_jpeg_size(std::string jpeg, int width, int height) {
  // SOF0/SOF2: FF C0|C2, length (2), precision (1), height (2), width (2).
  size_t sof = jpeg.find("\xff\xc0");
  if (sof == std::string::npos) sof = jpeg.find("\xff\xc2");
  if (sof == std::string::npos) return {};
  jpeg[sof + 5] = static_cast<char>(height >> 8);
  jpeg[sof + 6] = static_cast<char>(height);
  jpeg[sof + 7] = static_cast<char>(width >> 8);
  jpeg[sof + 8] = static_cast<char>(width);
  return jpeg;
}

TEST(RobustImages, JpegDecompressionBombsAreRefusedFromTheHeader) {
  // image_test covers PNG, GIF and BMP headers; the same holds for JPEG frame headers.
  for (const char* name : {"baseline-420.jpg", "progressive.jpg"}) {
    SCOPED_TRACE(name);
    const std::string jpeg = test::read_file(test::fixture_path(std::string("fuzz/image/") + name));
    const std::string huge = patch_jpeg_size(jpeg, 65500, 65500);
    ASSERT_FALSE(huge.empty());
    EXPECT_ERROR(decode_string(huge), "65500x65500 exceeds the maximum side of 16384");
    EXPECT_ERROR(decode_string(patch_jpeg_size(jpeg, 16000, 16000)),
                 "has 256000000 pixels, more than the limit");
    EXPECT_ERROR(decode_string(patch_jpeg_size(jpeg, 0, 16)), "corrupt JPEG header (0 width)");
    EXPECT_ERROR(decode_string(patch_jpeg_size(jpeg, 16, 0)), "corrupt JPEG header");
  }
}

TEST(RobustImages, JpegWhoseDataEndsMidBlockIsRefusedWithoutUndefinedBehaviour) {
  // Found by fuzzing: a run of zero bytes, then fill bytes before a marker inside the
  // entropy-coded data. stb 2.27's bit refill then shifted by 33 bits (src/image.cpp routes
  // around it); under the sanitizer build this test is where a regression would show.
  const std::string file =
      test::read_file(test::fixture_path("fuzz/image/regression-stb-refill-shift.jpg"));
  ASSERT_FALSE(file.empty());
  EXPECT_ERROR(decode_string(file), "cannot decode 333x221 JPEG (unknown marker)");
}

TEST(RobustImages, ExtremeAspectRatiosPreprocessToTheModelSize) {
  // The shorter side becomes 224, so a 1-pixel-high strip is resized to 224 x 3.6 million; only
  // the centre crop may be computed, or this would need gigabytes.
  for (const auto& [width, height] : {std::pair{16384, 1}, std::pair{1, 16384}}) {
    RgbImage strip;
    strip.width = width;
    strip.height = height;
    strip.pixels.resize(static_cast<size_t>(width) * height * 3);
    for (size_t i = 0; i < strip.pixels.size(); ++i) strip.pixels[i] = static_cast<uint8_t>(i * 7);
    const std::vector<float> tensor = preprocess_image(strip, PreprocessConfig{});
    ASSERT_EQ(tensor.size(), 3u * 224 * 224);
    for (float x : tensor) ASSERT_TRUE(std::isfinite(x));
  }
}

// ---- text through the whole text tower ----

TEST(RobustText, HostileTextGivesFiniteUnitEmbeddings) {
  const std::string dir = test::fixture_path("tokenizer");
  const Tokenizer tokenizer = Tokenizer::from_hf_files(test::read_file(dir + "/vocab.json"),
                                                       test::read_file(dir + "/merges.txt"));
  auto model = load_bytes(synthetic_checkpoint(Sizes{}), {WeightFormat::f32, 2});
  std::string megabyte;
  while (megabyte.size() < (1 << 20)) megabyte += "\xf0\x9f\x98\x80 &amp;\xff\xfe a photo ";
  const std::string inputs[] = {
      "",
      " \t\n\r ",
      std::string("\0\0\0", 3),
      "\xc3\x28\xa0\xa1\xed\xa0\x80\xf4\x90\x80\x80\xc0\xaf",  // ill-formed UTF-8 of every kind
      megabyte,
      std::string(5000, '&') + std::string(5000, ';'),
  };
  for (const std::string& text : inputs) {
    const std::vector<int32_t> tokens = tokenizer.tokenize(text, 77);
    ASSERT_GE(tokens.size(), 2u);
    ASSERT_LE(tokens.size(), 77u);
    EXPECT_TRUE(unit_and_finite(model->embed_text(tokens)));
  }
  // Empty and whitespace-only text are both just [start, end].
  EXPECT_EQ(tokenizer.tokenize("", 77), (std::vector<int32_t>{49406, 49407}));
  EXPECT_EQ(tokenizer.tokenize(" \t\n", 77), tokenizer.tokenize("", 77));
  EXPECT_ERROR(tokenizer.tokenize("a", 0), "context length must be >= 1");
}

// ---- one model ----

TEST(RobustModel, NonFinitePreprocessedPixelsAreNamedAndTheModelStaysUsable) {
  auto model = load_bytes(synthetic_checkpoint(Sizes{}), {WeightFormat::q8, 1});
  std::vector<float> pixels(2 * 3 * 16 * 16, 0.25f);
  const std::vector<float> clean = model->embed_images(pixels.data(), 2);
  pixels[3 * 16 * 16 + 5] = std::nanf("");
  EXPECT_ERROR(model->embed_images(pixels.data(), 2),
               "image 1 has a non-finite value (nan) at index 5");
  pixels[3 * 16 * 16 + 5] = 0.25f;
  pixels[7] = -INFINITY;
  EXPECT_ERROR(model->embed_images(pixels.data(), 2),
               "image 0 has a non-finite value (-inf) at index 7");
  pixels[7] = 0.25f;
  EXPECT_EQ(model->embed_images(pixels.data(), 2), clean);
}

// ---- one model, several threads ----

TEST(RobustModel, ConcurrentCallersGetTheSerialResults) {
  auto model = load_bytes(synthetic_checkpoint(Sizes{}), {WeightFormat::f32, 2});
  std::vector<float> pixels(3 * 16 * 16);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = std::sin(0.1f * i);
  const std::vector<int32_t> tokens = {49406, 320, 1125, 539, 320, 2368, 49407};
  const std::vector<float> image = model->embed_images(pixels.data(), 1);
  const std::vector<float> text = model->embed_text(tokens);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0), errors(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        if (model->embed_images(pixels.data(), 1) != image) ++mismatches[t];
        if (model->embed_text(tokens) != text) ++mismatches[t];
        // Bad calls in between fail alone.
        errors[t] += error_of([&] { model->embed_text({49406, 60000}); }) != "(no error)";
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) {
    EXPECT_EQ(mismatches[t], 0) << "thread " << t;
    EXPECT_EQ(errors[t], 10) << "thread " << t;
  }
}

}  // namespace
}  // namespace clip

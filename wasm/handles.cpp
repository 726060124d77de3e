#include "handles.h"

#include <emscripten/heap.h>
#include <malloc.h>
#include <unistd.h>

#include <exception>
#include <new>
#include <utility>

#include "common.h"
#include "image.h"
#include "zero-shot.h"

namespace clip::wasm {
namespace {

using emscripten::typed_memory_view;

val js_error(const char* message) {
  return val::global("Error").new_(std::string(message));
}

// Runs `body` and turns a thrown exception into a returned JS Error (see handles.h).
template <typename Body>
val js_result(Body&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return js_error("out of memory (the WebAssembly heap could not grow)");
  } catch (const std::exception& e) {
    return js_error(e.what());
  }
}

// A new JS array that owns a copy of `values`: the heap may move or be reused after the call.
val float_array(const std::vector<float>& values) {
  return val::global("Float32Array").new_(typed_memory_view(values.size(), values.data()));
}

val string_array(const std::vector<std::string>& strings) {
  val array = val::array();
  for (const std::string& s : strings) array.call<void>("push", s);
  return array;
}

// The bytes of a JS Uint8Array, copied in one Uint8Array.set: Embind's own std::string
// conversion copies byte by byte (in the threads build each byte also re-checks the heap view),
// which took ~90 ms for the 1.3 MB vocabulary.
std::string bytes_of(const val& bytes) {
  if (!bytes.instanceof (val::global("Uint8Array")))
    fail("expected the file's bytes as a Uint8Array");
  std::string out(bytes["length"].as<size_t>(), '\0');
  val(typed_memory_view(out.size(), reinterpret_cast<uint8_t*>(out.data())))
      .call<void>("set", bytes);
  return out;
}

// f16 is a storage format (half the download): its weights are computed in f32.
WeightFormat parse_dtype(const std::string& dtype) {
  if (dtype == "f32" || dtype == "f16") return WeightFormat::f32;
  if (dtype == "q8") return WeightFormat::q8;
  fail("dtype '", dtype, "' is not supported: use 'f32', 'f16' or 'q8'");
}

}  // namespace

val TokenizerHandle::from_hf_files(const val& vocab_json, const val& merges_txt) {
  return js_result([&] {
    return val(std::make_shared<TokenizerHandle>(
        Tokenizer::from_hf_files(bytes_of(vocab_json), bytes_of(merges_txt))));
  });
}

val TokenizerHandle::from_openai_bpe(const val& bpe_text) {
  return js_result([&] {
    return val(std::make_shared<TokenizerHandle>(Tokenizer::from_openai_bpe(bytes_of(bpe_text))));
  });
}

val TokenizerHandle::tokenize(const std::string& text, int context_length) const {
  return js_result([&] {
    if (context_length < 2) fail("tokenize: context length must be >= 2, got ", context_length);
    const std::vector<int32_t> ids = tokenizer_.tokenize(text, context_length);
    return val::global("Int32Array").new_(typed_memory_view(ids.size(), ids.data()));
  });
}

val TokenizerHandle::decode(const val& ids) const {
  return js_result([&] {
    return val(tokenizer_.decode(emscripten::convertJSArrayToNumberVector<int32_t>(ids)));
  });
}

val ModelHandle::info() const {
  const ModelConfig& config = model_->config();
  val info = val::object();
  info.set("embedDim", config.embed_dim);
  info.set("imageSize", config.vision ? config.vision->image_size : 0);
  info.set("contextLength", config.text ? config.text->context_length : 0);
  info.set("hasVision", config.vision.has_value());
  info.set("hasText", config.text.has_value());
  info.set("visionReady", model_->vision_ready());
  info.set("textReady", model_->text_ready());
  info.set("threads", model_->threads());
  info.set("weightBytes", static_cast<double>(model_->weight_bytes()));
  info.set("logitScale", model_->logit_scale());
  return info;
}

val ModelHandle::bytes(size_t size) {
  return js_result([&] {
    bytes_.resize(size);
    return val(typed_memory_view(bytes_.size(), bytes_.data()));
  });
}

val ModelHandle::floats(size_t size) {
  return js_result([&] {
    floats_.resize(size);
    return val(typed_memory_view(floats_.size(), floats_.data()));
  });
}

val ModelHandle::embed_rgb(const RgbImage& image) {
  if (!model_->config().vision) fail("this model has no image tower");
  const std::vector<float> pixels = preprocess_image(image, model_->config().vision->preprocess);
  return float_array(model_->embed_images(pixels.data(), 1));
}

val ModelHandle::embed_encoded(size_t size) {
  return js_result([&] {
    if (size > bytes_.size())
      fail("embedEncoded: ", size, " bytes asked, ", bytes_.size(), " staged");
    return embed_rgb(decode_image(bytes_.data(), size));
  });
}

val ModelHandle::embed_pixels(int width, int height, int channels) {
  return js_result([&] {
    if (width <= 0 || height <= 0) fail("image size must be positive, got ", width, "x", height);
    const size_t need = static_cast<size_t>(width) * height * static_cast<size_t>(channels);
    if (channels < 1 || need > bytes_.size()) {
      fail("pixels: ", width, "x", height, "x", channels, " needs ", need, " bytes, ",
           bytes_.size(), " staged");
    }
    return embed_rgb(image_from_pixels(bytes_.data(), width, height, channels));
  });
}

val ModelHandle::embed_preprocessed(size_t count) {
  return js_result([&] {
    const ModelConfig& config = model_->config();
    if (!config.vision) fail("this model has no image tower");
    const size_t size = static_cast<size_t>(config.vision->image_size);
    const size_t image_floats = 3 * size * size;
    if (count == 0 || count % image_floats != 0 || count > floats_.size()) {
      fail("preprocessed pixels: expected a multiple of 3x", size, "x", size, " = ", image_floats,
           " floats, got ", count);
    }
    return float_array(
        model_->embed_images(floats_.data(), static_cast<int>(count / image_floats)));
  });
}

val ModelHandle::embed_text(const TokenizerHandle& tokenizer, const std::string& text) {
  return js_result([&] {
    if (!model_->config().text) fail("this model has no text tower");
    const int context = model_->config().text->context_length;
    return float_array(model_->embed_text(tokenizer.tokenizer().tokenize(text, context)));
  });
}

val ModelHandle::label_embeddings(const TokenizerHandle& tokenizer, const val& labels,
                                  const val& templates) {
  return js_result([&] {
    return float_array(clip::label_embeddings(*model_, tokenizer.tokenizer(),
                                              emscripten::vecFromJSArray<std::string>(labels),
                                              emscripten::vecFromJSArray<std::string>(templates)));
  });
}

val ModelHandle::zero_shot(const val& image_embeddings, const val& label_embeddings) {
  return js_result([&] {
    const int dim = model_->config().embed_dim;
    const std::vector<float> images =
        emscripten::convertJSArrayToNumberVector<float>(image_embeddings);
    const std::vector<float> labels =
        emscripten::convertJSArrayToNumberVector<float>(label_embeddings);
    if (dim <= 0 || images.empty() || images.size() % dim || labels.size() % dim) {
      fail("zero-shot: embeddings must be multiples of ", dim, " floats, got ", images.size(),
           " and ", labels.size());
    }
    return float_array(zero_shot_probabilities(images.data(), static_cast<int>(images.size() / dim),
                                               labels.data(), static_cast<int>(labels.size() / dim),
                                               dim, model_->logit_scale()));
  });
}

LoaderHandle::LoaderHandle(ModelOptions options, std::string config_json,
                           std::string preprocessor_json, uint64_t file_size)
    : loader_(options, std::move(config_json), std::move(preprocessor_json), file_size) {}

val LoaderHandle::create(const std::string& dtype, int threads, const std::string& config_json,
                         const std::string& preprocessor_json, double file_size) {
  return js_result([&] {
    if (threads < 1) fail("threads must be >= 1, got ", threads);
    if (!(file_size >= 0)) fail("file size must be >= 0, got ", file_size);
    ModelOptions options;
    options.format = parse_dtype(dtype);
    options.threads = threads;
    // The threads start when the package calls start_threads(), once its workers have loaded.
    options.start_threads = false;
    options.memory_limit = emscripten_get_heap_max();  // a larger model fails at its header
    return val(std::make_shared<LoaderHandle>(options, config_json, preprocessor_json,
                                              static_cast<uint64_t>(file_size)));
  });
}

val LoaderHandle::window(size_t preferred) {
  return js_result([&] {
    const SafetensorsStream::Window window = loader_.window(preferred);
    return val(typed_memory_view(window.size, window.data));
  });
}

val LoaderHandle::process_ready() {
  return js_result([&] {
    loader_.process_ready();
    return val::undefined();
  });
}

val LoaderHandle::commit(size_t size) {
  return js_result([&] {
    loader_.commit(size);
    return val::undefined();
  });
}

val LoaderHandle::placements() {
  return js_result([&] {
    if (placed_ || !loader_.model()) return val::null();
    placed_ = true;
    // The heap grows first, once (not 16 MB at a time under the allocations), and before the
    // views are made: growing a memory that is not shared detaches them.
    reserve_heap();
    // One array of numbers rather than an object per tensor: a few hundred fewer calls through
    // embind.
    std::vector<double> triples;
    for (const ModelLoader::Placement& placement : loader_.place_all()) {
      triples.push_back(static_cast<double>(placement.file_offset));
      triples.push_back(static_cast<double>(reinterpret_cast<uintptr_t>(placement.data)));
      triples.push_back(static_cast<double>(placement.size));
    }
    return val::global("Float64Array").new_(typed_memory_view(triples.size(), triples.data()));
  });
}

// The heap grows at once to what the weights will take (plus slack for the stream's buffers),
// instead of 16 MB at a time as they arrive: the memory then stays put while reads into it run
// on other threads, and their views stay attached.
void LoaderHandle::reserve_heap() {
  const uint64_t wanted =
      reinterpret_cast<uintptr_t>(sbrk(0)) + loader_.weight_bytes() + (16u << 20);
  if (wanted > emscripten_get_heap_size() && wanted <= emscripten_get_heap_max()) {
    emscripten_resize_heap(static_cast<size_t>(wanted));  // on failure, growth as usual
  }
}

val LoaderHandle::finish() {
  return js_result([&] {
    loader_.finish();
    return val::undefined();
  });
}

val LoaderHandle::start_threads() {
  return js_result([&] {
    loader_.start_threads();
    return val::undefined();
  });
}

val LoaderHandle::model() const {
  std::shared_ptr<Model> model = loader_.model();
  return model ? val(std::make_shared<ModelHandle>(std::move(model))) : val::null();
}

val memory_stats() {
  val stats = val::object();
  stats.set("heapBytes", static_cast<double>(emscripten_get_heap_size()));
  stats.set("usedBytes", static_cast<double>(mallinfo().uordblks));
  return stats;
}

val default_templates() {
  return string_array(kDefaultTemplates);
}

val ensemble_templates() {
  return string_array(kEnsembleTemplates);
}

}  // namespace clip::wasm

// Object handles the JavaScript package drives: a streaming loader, a model, a tokenizer.
// They translate between typed arrays and the core API and nothing more; all state lives in the
// handle objects (no globals), so one module can hold several models.
//
// Errors: every method that can fail returns either its result or a JS Error carrying the
// clip::Error message. The C++ exception is caught and freed before control returns to JS, so a
// failed call leaves the module and the handle usable.
#pragma once

#include <emscripten/val.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "clip-model.h"
#include "model-loader.h"
#include "tokenizer.h"

namespace clip::wasm {

using emscripten::val;

class TokenizerHandle {
 public:
  explicit TokenizerHandle(Tokenizer tokenizer) : tokenizer_(std::move(tokenizer)) {}

  // -> TokenizerHandle | Error. vocab.json and merges.txt (Hugging Face layout), as Uint8Arrays.
  static val from_hf_files(const val& vocab_json, const val& merges_txt);
  // -> TokenizerHandle | Error. OpenAI's bpe_simple_vocab_16e6.txt, decompressed, as a Uint8Array.
  static val from_openai_bpe(const val& bpe_text);

  // -> Int32Array [start, ids..., end] | Error. Text must already be NFC (the package does it).
  val tokenize(const std::string& text, int context_length) const;
  // Int32Array of ids -> string | Error.
  val decode(const val& ids) const;
  size_t vocab_size() const { return tokenizer_.vocab_size(); }
  const Tokenizer& tokenizer() const { return tokenizer_; }

 private:
  Tokenizer tokenizer_;
};

class ModelHandle {
 public:
  explicit ModelHandle(std::shared_ptr<Model> model) : model_(std::move(model)) {}

  // {embedDim, imageSize, contextLength, hasVision, hasText, visionReady, textReady, threads,
  //  weightBytes, logitScale}: read again whenever readiness matters (it changes while loading).
  val info() const;

  // Staging areas in wasm memory that JS writes inputs into, so an input is copied once, from the
  // caller's array straight into the heap. The returned view is valid until the next call into
  // the module (the heap may move), so JS fills it at once.
  val bytes(size_t size);
  val floats(size_t size);

  // Each returns a Float32Array [images, embedDim] (L2-normalized) or an Error.
  val embed_encoded(size_t size);                         // staged encoded image bytes
  val embed_pixels(int width, int height, int channels);  // staged raw pixels
  val embed_preprocessed(size_t count);                   // staged [batch, 3, S, S] floats
  val embed_text(const TokenizerHandle& tokenizer, const std::string& text);

  // Float32Array [labels, embedDim] | Error: one embedding per label through the templates.
  val label_embeddings(const TokenizerHandle& tokenizer, const val& labels, const val& templates);
  // Float32Array [images, labels] of softmaxed scores | Error.
  val zero_shot(const val& image_embeddings, const val& label_embeddings);

 private:
  val embed_rgb(const RgbImage& image);

  std::shared_ptr<Model> model_;
  std::vector<uint8_t> bytes_;
  std::vector<float> floats_;
};

class LoaderHandle {
 public:
  LoaderHandle(ModelOptions options, std::string config_json, std::string preprocessor_json,
               uint64_t file_size);

  // -> LoaderHandle | Error. dtype: "f32" or "q8"; threads: total threads (1 = no workers);
  // file_size: bytes of the safetensors file, 0 when unknown.
  static val create(const std::string& dtype, int threads, const std::string& config_json,
                    const std::string& preprocessor_json, double file_size);

  // -> Uint8Array | Error: where the next bytes of the file go (ModelLoader::window), at most
  // `preferred` unless a large tensor is read whole. Its bytes stay reserved until commit(); the
  // view itself is detached if the memory grows (a later call may grow it, and a non-shared
  // memory's old views are then empty).
  val window(size_t preferred);
  // undefined | Error: converts and packs a tensor the last commit() completed; called while the
  // next window is being read (on another thread), the two overlap.
  val process_ready();
  // null before the header is in, then (once) Float64Array | Error: for each large tensor, its
  // offset in the file, the address of its final memory and its size (ModelLoader::place_all),
  // for the package to read it there ahead of the windows; the heap is grown at once to what the
  // weights will take.
  val placements();
  val commit(size_t size);  // undefined | Error: the first `size` bytes of the window are in
  val finish();             // undefined | Error
  val model() const;        // ModelHandle once the header is read, else null
  // The model runs on the calling thread until this is called, once the module's worker threads
  // have loaded (the package's threadsLoaded()): reading the weights need not wait for them.
  val start_threads();  // undefined | Error
  double bytes_consumed() const { return static_cast<double>(loader_.bytes_consumed()); }

 private:
  void reserve_heap();

  ModelLoader loader_;
  bool placed_ = false;
};

// {heapBytes, usedBytes}: the size of wasm memory and the bytes malloc has handed out, so tests
// can check that repeated calls neither grow the heap nor leak.
val memory_stats();
// The core's prompt templates, so the package does not keep its own copy.
val default_templates();
val ensemble_templates();

}  // namespace clip::wasm

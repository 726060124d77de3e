// Embind registrations: names only. Behaviour lives in handles.cpp and the core.
#include <emscripten/bind.h>

#include "handles.h"
#include "kernels/kernels.h"

namespace clip::wasm {

EMSCRIPTEN_BINDINGS(clip_wasm) {
  using emscripten::class_;
  using emscripten::function;

  class_<TokenizerHandle>("Tokenizer")
      .smart_ptr<std::shared_ptr<TokenizerHandle>>("Tokenizer")
      .class_function("fromHfFiles", &TokenizerHandle::from_hf_files)
      .class_function("fromOpenaiBpe", &TokenizerHandle::from_openai_bpe)
      .function("tokenize", &TokenizerHandle::tokenize)
      .function("decode", &TokenizerHandle::decode)
      .function("vocabSize", &TokenizerHandle::vocab_size);

  class_<ModelHandle>("Model")
      .smart_ptr<std::shared_ptr<ModelHandle>>("Model")
      .function("info", &ModelHandle::info)
      .function("bytes", &ModelHandle::bytes)
      .function("floats", &ModelHandle::floats)
      .function("embedEncoded", &ModelHandle::embed_encoded)
      .function("embedPixels", &ModelHandle::embed_pixels)
      .function("embedPreprocessed", &ModelHandle::embed_preprocessed)
      .function("embedText", &ModelHandle::embed_text)
      .function("labelEmbeddings", &ModelHandle::label_embeddings)
      .function("zeroShot", &ModelHandle::zero_shot);

  class_<LoaderHandle>("Loader")
      .smart_ptr<std::shared_ptr<LoaderHandle>>("Loader")
      .class_function("create", &LoaderHandle::create)
      .function("window", &LoaderHandle::window)
      .function("processReady", &LoaderHandle::process_ready)
      .function("placements", &LoaderHandle::placements)
      .function("commit", &LoaderHandle::commit)
      .function("finish", &LoaderHandle::finish)
      .function("model", &LoaderHandle::model)
      .function("startThreads", &LoaderHandle::start_threads)
      .function("bytesConsumed", &LoaderHandle::bytes_consumed);

  function("memoryStats", &memory_stats);
  function("enableRelaxedSimd", &kernels::enable_relaxed_simd);
  function("setGemmRows", &kernels::set_gemm_rows);
  function("defaultTemplates", &default_templates);
  function("ensembleTemplates", &ensemble_templates);
}

}  // namespace clip::wasm

// Builds a Model from a streamed safetensors file (Hugging Face or OpenAI / open_clip names) and
// an optional config file. Each tensor is converted and packed as soon as its bytes arrive; a
// tower becomes usable the moment its last tensor is in. While it streams, the loader and the
// model it fills are not synchronized: feed them and use the model from one thread (the package
// does), or guard both with one lock. Once finish() returned, the model may be used anywhere.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "clip-model.h"
#include "safetensors.h"

namespace clip {

struct MappedTensor;  // a canonical tensor a file tensor fills, and how (model-loader.cpp)

class ModelLoader {
 public:
  // config_json: the text of config.json (HF) or open_clip_config.json, or empty to infer sizes
  // from the tensor shapes. preprocessor_json: HF preprocessor_config.json, or empty.
  explicit ModelLoader(ModelOptions options = {}, std::string config_json = {},
                       std::string preprocessor_json = {}, uint64_t file_size = 0);
  ~ModelLoader();  // out of line: Component is complete only in model-loader.cpp

  void feed(const uint8_t* bytes, size_t size);
  // Zero-copy input (SafetensorsStream::window): the caller reads the next bytes straight into
  // the window, then commits how many it wrote. Large F32 tensors are then read into their final
  // memory (the token embedding's table, a linear weight's packed buffer, packed in place) or
  // packed from the buffer they were read into.
  SafetensorsStream::Window window(size_t preferred) { return stream_.window(preferred); }
  void commit(size_t size) { stream_.commit(size); }
  // Converts and packs a tensor whose bytes commit() completed (SafetensorsStream::process_ready):
  // called while the next window is being read, the work overlaps the read.
  void process_ready() { stream_.process_ready(); }
  // Throws if the stream ended early or tensors are missing (they are listed by name).
  void finish();
  // Null until the safetensors header has been read; then the model, filling up as bytes arrive.
  std::shared_ptr<Model> model() const { return model_; }
  // For options.start_threads = false: starts the model's worker threads now, or as the model is
  // made if its header is still to come.
  void start_threads();
  uint64_t bytes_consumed() const { return stream_.bytes_consumed(); }
  // Bytes the model's weights will take once loaded (known with the header; a lower bound).
  uint64_t weight_bytes() const;
  // How many tensors were read straight into their final memory (place_tensor); for tests.
  size_t tensors_read_in_place() const { return read_in_place_; }

  // Once the header is in (and with the file size known): allocates now the final memory of every
  // tensor that window() would have read in place, and lists where each one's bytes are in the
  // file. A caller may read them there ahead of the stream, several at once; window() then hands
  // out the same memory for each, which the caller commits without reading it again.
  struct Placement {
    uint64_t file_offset;
    uint64_t size;
    uint8_t* data;
  };
  std::vector<Placement> place_all();

 private:
  // Read-only floats of one staged part: a buffer of the loader's own, or a tensor still in the
  // stream's buffer.
  struct FloatSpan {
    const float* ptr = nullptr;
    size_t count = 0;
    const float* data() const { return ptr; }
    const float* begin() const { return ptr; }
    const float* end() const { return ptr + count; }
    float operator[](size_t i) const { return ptr[i]; }
  };
  struct Component;  // a group of tensors installed together (e.g. a linear layer's weight + bias)

  void on_header(const SafetensorsHeader& header);
  uint8_t* place_tensor(const TensorInfo& info);
  void on_tensor(const TensorInfo& info, const uint8_t* data);
  void on_weights(const TensorInfo& info, const uint8_t* data,
                  const std::vector<float>* row_scales);
  void install_token_embedding(const TensorInfo& info, const uint8_t* data,
                               const std::vector<int64_t>& shape,
                               const std::vector<float>* row_scales);
  void convert_and_stage(const TensorInfo& info, const uint8_t* data,
                         const std::vector<int64_t>& shape, const std::vector<float>* row_scales,
                         const std::vector<MappedTensor>& targets);
  // Holds one part of a component until the rest is in, then installs the component. The part
  // is `values`, or `view` when given (memory valid during the call only).
  void stage(const std::string& name, UninitializedVector<float> values, FloatSpan view);
  void plan_components();
  void check_memory_limit();  // after plan_components: fails if the weights cannot fit

  ModelOptions options_;
  std::string config_json_;
  std::string preprocessor_json_;
  uint64_t file_size_ = 0;
  SafetensorsStream stream_;
  NamingScheme scheme_ = NamingScheme::hugging_face;
  std::shared_ptr<Model> model_;
  std::vector<Component> components_;
  std::map<std::string, size_t> component_of_;          // canonical tensor name -> component
  std::map<std::string, std::vector<int64_t>> shapes_;  // canonical tensor name -> expected shape
  std::map<std::string, UninitializedVector<float>>
      staged_;  // parts waiting for the rest of their group
  // Linear weights read into the buffer they are packed in (place_tensor), until installed.
  std::map<std::string, UninitializedVector<float>> placed_;
  std::set<std::string> received_;
  struct PendingQ8 {
    TensorInfo info;
    std::vector<uint8_t> bytes;
  };
  std::map<std::string, PendingQ8> pending_q8_;           // I8 tensors waiting for their scales
  std::map<std::string, std::vector<float>> row_scales_;  // scales waiting for their I8 tensor
  SafetensorsHeader header_;                              // the file's tensors, for place_all()
  std::map<std::string, uint8_t*> placed_at_;             // file tensor name -> its final memory
  size_t read_in_place_ = 0;
  size_t vision_left_ = 0;
  size_t text_left_ = 0;
  bool need_logit_scale_ = false;
};

// Native convenience: loads <dir>/model.safetensors or <dir>/open_clip_model.safetensors (or the
// file named by weights_file, e.g. "model.q8.safetensors") with config.json /
// open_clip_config.json / preprocessor_config.json when present.
std::shared_ptr<Model> load_model_dir(const std::string& dir, ModelOptions options = {},
                                      const std::string& weights_file = {});

}  // namespace clip

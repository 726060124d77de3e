// Strict, streaming safetensors reader.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data section. Bytes are fed in order (from a file or a network stream) and each tensor
// is handed to the caller as soon as all its bytes are in, so no second copy of the whole file is
// ever held.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace clip {

enum class DType { F32, F16, BF16, I8, U8, I32 };

const char* dtype_name(DType dtype);
size_t dtype_size(DType dtype);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // offsets inside the data section
  uint64_t end = 0;
  int64_t element_count() const;
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // sorted by begin offset
  std::map<std::string, std::string> metadata;
  uint64_t header_size = 0;  // 8 + JSON length: where the data section starts in the file
  uint64_t data_size = 0;    // bytes of the data section (end of the last tensor)
  const TensorInfo* find(const std::string& name) const;
};

struct SafetensorsLimits {
  uint64_t max_header_bytes = 100u << 20;  // JSON header
  uint64_t max_tensor_bytes = 1ull << 31;  // one tensor
  size_t max_tensors = 100000;
};

// Parses and validates a header (dtype known, shape x itemsize == byte length, offsets inside
// the data section, no overlap, no duplicates, no integer overflow). `file_size` is the total
// size when known (0 = unknown, e.g. a stream without Content-Length). Throws clip::Error.
SafetensorsHeader parse_safetensors_header(const uint8_t* json, size_t json_size, uint64_t file_size,
                                           const SafetensorsLimits& limits = {});

// Incremental reader. on_header runs once, before any tensor; on_tensor once per tensor, in file
// order, with exactly (end - begin) bytes. finish() throws if the stream ended early.
class SafetensorsStream {
 public:
  using HeaderCallback = std::function<void(const SafetensorsHeader&)>;
  using TensorCallback = std::function<void(const TensorInfo&, const uint8_t* data)>;

  SafetensorsStream(HeaderCallback on_header, TensorCallback on_tensor, uint64_t file_size = 0,
                    SafetensorsLimits limits = {});
  void feed(const uint8_t* bytes, size_t size);
  void finish();
  uint64_t bytes_consumed() const { return consumed_; }

 private:
  HeaderCallback on_header_;
  TensorCallback on_tensor_;
  uint64_t file_size_;
  SafetensorsLimits limits_;
  uint64_t consumed_ = 0;
  uint64_t json_size_ = 0;
  std::vector<uint8_t> pending_;  // header bytes, then the bytes of the current tensor
  SafetensorsHeader header_;
  bool have_header_ = false;
  size_t next_tensor_ = 0;
  bool failed_ = false;
};

// Reads a whole safetensors file through SafetensorsStream in chunks.
void read_safetensors_file(const std::string& path, const SafetensorsStream::HeaderCallback& on_header,
                           const SafetensorsStream::TensorCallback& on_tensor);

// Converts `count` elements of F32/F16/BF16 data (little-endian, possibly unaligned) to float.
void convert_to_f32(DType dtype, const uint8_t* src, size_t count, float* dst);

}  // namespace clip

// Strict, streaming safetensors reader.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data section. Bytes are fed in order (from a file or a network stream) and each tensor
// is handed to the caller as soon as all its bytes are in, so no second copy of the whole file is
// ever held.
//
// Strictness follows the reference implementation (huggingface/safetensors), which every real
// writer satisfies: the JSON must start with '{' (trailing whitespace padding is allowed), the
// tensors must tile the data section exactly, starting at offset 0, with no gap and no overlap,
// and nothing may follow the last tensor. Unknown keys inside a tensor entry are ignored, as the
// reference does; duplicate keys anywhere are rejected.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "uninitialized-vector.h"

namespace clip {

// Every dtype of the format is parsed (old checkpoints carry I64 position_ids that CLIP never
// reads); only F32, F16 and BF16 convert to float.
enum class DType {
  F32,
  F16,
  BF16,
  I8,
  U8,
  I16,
  U16,
  I32,
  U32,
  I64,
  U64,
  F64,
  BOOL,
  F8_E4M3,
  F8_E5M2
};

const char* dtype_name(DType dtype);
size_t dtype_size(DType dtype);

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // offsets inside the data section
  uint64_t end = 0;
  int64_t element_count() const;
  uint64_t byte_size() const { return end - begin; }
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // sorted by begin offset
  std::map<std::string, std::string> metadata;
  uint64_t header_size = 0;  // 8 + JSON length: where the data section starts in the file
  uint64_t data_size = 0;    // bytes of the data section (end of the last tensor)
  const TensorInfo* find(const std::string& name) const;
};

struct SafetensorsLimits {
  uint64_t max_header_bytes = 100u << 20;  // JSON header (the reference's own limit)
  uint64_t max_tensor_bytes = 1ull << 31;  // one tensor
  size_t max_tensors = 100000;
  size_t max_rank = 64;  // dimensions of one shape
};

// Parses and validates a header (dtype known, shape x itemsize == byte length, offsets inside
// the data section, no overlap, no gap, no duplicates, no integer overflow). `file_size` is the
// total size when known (0 = unknown, e.g. a stream without Content-Length); then the data section
// must end exactly at the end of the file. Throws clip::Error.
SafetensorsHeader parse_safetensors_header(const uint8_t* json, size_t json_size,
                                           uint64_t file_size,
                                           const SafetensorsLimits& limits = {});

// Incremental reader. on_header runs once, before any tensor; on_tensor once per tensor, in file
// order, with exactly (end - begin) bytes. `data` is valid only during the call and may be
// unaligned (it can point into the caller's chunk): copy or convert it (convert_to_f32) there.
// Only a tensor (or the header) that straddles chunks is buffered, so the buffer never holds more
// than the header or one tensor. Any exception, from validation or from a callback, propagates and
// leaves the stream failed: later feed() and finish() calls throw. finish() throws if the stream
// ended early, or if it ended short of a known file size.
class SafetensorsStream {
 public:
  using HeaderCallback = std::function<void(const SafetensorsHeader&)>;
  using TensorCallback = std::function<void(const TensorInfo&, const uint8_t* data)>;

  SafetensorsStream(HeaderCallback on_header, TensorCallback on_tensor, uint64_t file_size = 0,
                    SafetensorsLimits limits = {});
  void feed(const uint8_t* bytes, size_t size);

  // Zero-copy input, for callers that can read straight into memory (a file read, a network
  // chunk copied once): window() says where the next bytes of the stream go and how many fit,
  // then commit(n) takes the first n bytes written there (n <= size; a short read is fine). A
  // tensor of kDirectBytes or more gets a window in its own buffer (the rest of the tensor, when
  // the file size is known), so it is read in place and handed to on_tensor without a copy.
  // The header and runs of smaller tensors go through a scratch window of at most `preferred`
  // bytes that ends where they end. window() and feed() may be mixed between commits.
  static constexpr size_t kDirectBytes = 64 * 1024;
  struct Window {
    uint8_t* data;
    size_t size;
  };
  Window window(size_t preferred);
  void commit(size_t size);
  // A tensor of kDirectBytes or more that commit() completes is handed to on_tensor later: by
  // process_ready(), by the commit() that completes the next such tensor, or by finish(). Smaller
  // tensors read meanwhile are handed out first, so through windows the order of the file holds
  // among the large tensors and among the others, not between the two. A caller whose reads run
  // on another thread calls process_ready() after starting a large read and before committing
  // it, so that the work on_tensor does (converting, packing) overlaps the read. The stream then
  // holds at most two tensors' buffers.
  void process_ready();

  // Optional, for window() input: where a large tensor's bytes should go. A callback that returns
  // a buffer of byte_size() bytes has the tensor read there, in place (on_tensor then gets that
  // pointer); null leaves the tensor to the stream's own buffer.
  using PlacementCallback = std::function<uint8_t*(const TensorInfo&)>;
  void set_placement(PlacementCallback place) { place_ = std::move(place); }

  void finish();
  uint64_t bytes_consumed() const { return consumed_; }
  // Bytes reserved for partial and ready tensors; lets tests check the bound (one tensor when
  // fed, two through windows).
  size_t buffer_capacity() const { return pending_.capacity() + ready_.capacity(); }

 private:
  enum class Stage { kLength, kJson, kTensors, kDone, kFinished, kFailed };

  // Each step consumes a prefix of the input and returns how many bytes it took.
  size_t feed_length(const uint8_t* bytes, size_t size);
  size_t feed_json(const uint8_t* bytes, size_t size);
  size_t feed_tensor(const uint8_t* bytes, size_t size);
  void append_pending(const uint8_t* bytes, size_t take, uint64_t need);
  void start_data_section(const uint8_t* json);
  void emit_tensor(const uint8_t* data);
  uint64_t expected_total() const { return header_.header_size + header_.data_size; }

  HeaderCallback on_header_;
  TensorCallback on_tensor_;
  uint64_t file_size_;
  SafetensorsLimits limits_;
  Stage stage_ = Stage::kLength;
  uint64_t consumed_ = 0;
  uint8_t length_bytes_[8] = {};  // the little-endian header length, as it arrives
  size_t length_have_ = 0;
  uint64_t json_size_ = 0;
  // Where the window of the last window() call is, until commit().
  enum class WindowKind { kNone, kScratch, kTensor, kPlaced };
  void check_usable(const char* call) const;
  size_t direct_window(uint64_t need, size_t preferred);
  void take_placed(size_t size, bool committed);
  void park(const uint8_t* data);
  void emit_pending_if_complete();
  void park_pending_if_complete();
  void advance_past(size_t tensor);
  uint64_t bytes_to_next_direct_tensor() const;

  UninitializedVector<uint8_t> pending_;  // a header or tensor that straddles chunks
  UninitializedVector<uint8_t> scratch_;  // window() for the header and small tensors
  // A complete tensor that commit() left for process_ready(): tensor ready_tensor_, its bytes at
  // ready_data_ (in ready_, or where it was placed); null when none waits.
  UninitializedVector<uint8_t> ready_;
  const uint8_t* ready_data_ = nullptr;
  size_t ready_tensor_ = 0;
  WindowKind window_kind_ = WindowKind::kNone;
  size_t window_begin_ = 0;  // kTensor: where in pending_ the window starts
  size_t window_size_ = 0;
  PlacementCallback place_;
  uint8_t* placed_ = nullptr;  // the current tensor's buffer when place_ gave one
  uint64_t placed_have_ = 0;   // bytes of it read so far
  SafetensorsHeader header_;
  size_t next_tensor_ = 0;
};

// Reads a whole safetensors file through SafetensorsStream in 1 MB chunks, with the file size
// known, so a file with bytes after the last tensor is rejected. Errors name the path.
void read_safetensors_file(const std::string& path,
                           const SafetensorsStream::HeaderCallback& on_header,
                           const SafetensorsStream::TensorCallback& on_tensor,
                           const SafetensorsLimits& limits = {});

// Converts `count` elements of F32/F16/BF16 data (little-endian, possibly unaligned) to float.
// Every value converts exactly, subnormals, infinities and NaN payloads included. Integer dtypes
// throw: their meaning (index, quantized weight) is the caller's to decide.
void convert_to_f32(DType dtype, const uint8_t* src, size_t count, float* dst);

}  // namespace clip

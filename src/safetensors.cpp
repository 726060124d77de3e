#include "safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include "common.h"
#include "json-reader.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader copies it as is"
#endif

namespace clip {
namespace {

constexpr const char* kPrefix = "safetensors: ";
constexpr size_t kKeptBufferBytes = 16u << 20;  // tensor buffers up to this size are reused

struct DTypeInfo {
  const char* name;
  DType dtype;
  size_t size;
};

constexpr DTypeInfo kDTypes[] = {
    {"F32", DType::F32, 4},   {"F16", DType::F16, 2},         {"BF16", DType::BF16, 2},
    {"I8", DType::I8, 1},     {"U8", DType::U8, 1},           {"I16", DType::I16, 2},
    {"U16", DType::U16, 2},   {"I32", DType::I32, 4},         {"U32", DType::U32, 4},
    {"I64", DType::I64, 8},   {"U64", DType::U64, 8},         {"F64", DType::F64, 8},
    {"BOOL", DType::BOOL, 1}, {"F8_E4M3", DType::F8_E4M3, 1}, {"F8_E5M2", DType::F8_E5M2, 1},
};

const DTypeInfo& info_of(DType dtype) {
  for (const DTypeInfo& info : kDTypes) {
    if (info.dtype == dtype) return info;
  }
  fail(kPrefix, "invalid DType value ", static_cast<int>(dtype));
}

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    text += (i ? ", " : "") + std::to_string(shape[i]);
  }
  return text + "]";
}

std::string offsets_text(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

// Turns the header's JSON events straight into tensor entries, without building a document:
// memory stays proportional to the header, and duplicate keys (which a JSON document would
// silently collapse) are seen and rejected.
class HeaderParser : public JsonHandler {
 public:
  HeaderParser(const SafetensorsLimits& limits, bool data_size_known, uint64_t data_size)
      : limits_(limits), data_size_known_(data_size_known), data_size_(data_size) {}

  SafetensorsHeader take() { return std::move(header_); }

  void null() override { scalar("null"); }
  void boolean(bool) override { scalar("a boolean"); }

  void number_integer(int64_t value) override {
    if (skip_ == 0 && level_ == Level::kArray) {
      if (value < 0)
        fail(kPrefix, "tensor '", entry_.name, "': ", field_name(), " has negative value ", value);
      push(static_cast<uint64_t>(value));
      return;
    }
    scalar("a number");
  }
  void number_unsigned(uint64_t value) override {
    if (skip_ == 0 && level_ == Level::kArray) {
      push(value);
      return;
    }
    scalar("a number");
  }
  void number_float(std::string_view text) override {
    if (skip_ == 0 && level_ == Level::kArray) {
      fail(kPrefix, "tensor '", entry_.name, "': ", field_name(), " has ", text,
           ", which is not an integer (or does not fit 64 bits)");
    }
    scalar("a number");
  }
  void string(std::string& value) override {
    if (skip_ == 0 && level_ == Level::kEntry && field_ == Field::kDtype) {
      entry_.dtype = value;
      return;
    }
    if (skip_ == 0 && level_ == Level::kMetadata) {
      header_.metadata[metadata_key_] = value;
      return;
    }
    scalar("a string");
  }

  void start_object() override {
    if (skip_ > 0) {
      ++skip_;
      return;
    }
    switch (level_) {
      case Level::kStart:
        level_ = Level::kTop;
        return;
      case Level::kTop:
        if (top_key_ == "__metadata__") {
          level_ = Level::kMetadata;
        } else {
          level_ = Level::kEntry;
          entry_.clear();
          entry_.name = top_key_;
        }
        return;
      default:
        container("an object");
    }
  }
  void start_array() override {
    if (skip_ > 0) {
      ++skip_;
      return;
    }
    if (level_ == Level::kEntry && (field_ == Field::kShape || field_ == Field::kOffsets)) {
      level_ = Level::kArray;
      return;
    }
    container("an array");
  }
  void end_object() override {
    if (skip_ > 0) {
      --skip_;
      return;
    }
    if (level_ == Level::kEntry) add_entry();
    level_ = level_ == Level::kTop ? Level::kEnd : Level::kTop;
  }
  void end_array() override {
    if (skip_ > 0) {
      --skip_;
      return;
    }
    if (field_ == Field::kOffsets && entry_.offsets.size() != 2) {
      fail(kPrefix, "tensor '", entry_.name, "': data_offsets must be [begin, end], got ",
           entry_.offsets.size(), " numbers");
    }
    level_ = Level::kEntry;
  }

  void key(std::string& key) override {
    if (skip_ > 0) return;
    if (level_ == Level::kTop) {
      if (key == "__metadata__") {
        if (seen_metadata_) fail(kPrefix, "duplicate entry '", key, "' in the header");
        seen_metadata_ = true;
      } else if (++tensor_count_ > limits_.max_tensors) {
        fail(kPrefix, "header lists more than ", limits_.max_tensors, " tensors (limit)");
      }
      top_key_ = key;
    } else if (level_ == Level::kMetadata) {
      if (!header_.metadata.emplace(key, std::string()).second) {
        fail(kPrefix, "duplicate key '", key, "' in __metadata__");
      }
      metadata_key_ = key;
    } else {  // kEntry: the only other level that has keys
      field_ = key == "dtype"          ? Field::kDtype
               : key == "shape"        ? Field::kShape
               : key == "data_offsets" ? Field::kOffsets
                                       : Field::kOther;
      const bool repeated = field_ == Field::kOther
                                ? std::find(entry_.other_keys.begin(), entry_.other_keys.end(),
                                            key) != entry_.other_keys.end()
                                : (entry_.fields & field_bit(field_)) != 0;
      if (repeated) {
        fail(kPrefix, "tensor '", entry_.name, "' has a duplicate \"", key, "\" field");
      }
      if (field_ == Field::kOther) {
        entry_.other_keys.push_back(key);
      } else {
        entry_.fields |= field_bit(field_);
      }
    }
  }

 private:
  enum class Level { kStart, kTop, kEntry, kMetadata, kArray, kEnd };
  enum class Field { kDtype, kShape, kOffsets, kOther };

  // The entry being read. Reused from one tensor to the next, so that its buffers are too.
  struct Entry {
    std::string name;
    std::string dtype;
    std::vector<uint64_t> shape;
    std::vector<uint64_t> offsets;
    unsigned fields = 0;                  // field_bit() of each known field seen
    std::vector<std::string> other_keys;  // fields the format does not define (rare)
    void clear() {
      dtype.clear();
      shape.clear();
      offsets.clear();
      fields = 0;
      other_keys.clear();
    }
  };
  static unsigned field_bit(Field field) { return 1u << static_cast<unsigned>(field); }

  const char* field_name() const { return field_ == Field::kShape ? "shape" : "data_offsets"; }

  // A scalar where the format allows one only in certain places.
  void scalar(const char* what) {
    if (skip_ > 0) return;
    switch (level_) {
      case Level::kTop:
        fail(kPrefix, "entry '", top_key_, "' is ", what, ", not an object");
      case Level::kEntry:
        if (field_ == Field::kOther) return;  // unknown field: ignored, as the reference does
        if (field_ == Field::kDtype)
          fail(kPrefix, "tensor '", entry_.name, "': dtype is ", what, ", not a string");
        fail(kPrefix, "tensor '", entry_.name, "': ", field_name(), " is ", what, ", not an array");
      case Level::kMetadata:
        fail(kPrefix, "__metadata__ value for '", metadata_key_, "' is ", what, ", not a string");
      case Level::kArray:
        fail(kPrefix, "tensor '", entry_.name, "': ", field_name(), " has ", what,
             ", not a non-negative integer");
      default:
        fail(kPrefix, "header is ", what, ", not a JSON object");
    }
  }

  // An object or array as a value: skipped inside an unknown field, an error elsewhere.
  void container(const char* what) {
    if (level_ == Level::kEntry && field_ == Field::kOther) {
      skip_ = 1;
      return;
    }
    scalar(what);
  }

  void push(uint64_t value) {
    std::vector<uint64_t>& target = field_ == Field::kShape ? entry_.shape : entry_.offsets;
    size_t limit = field_ == Field::kShape ? limits_.max_rank : 2;
    if (target.size() >= limit) {
      if (field_ == Field::kOffsets)
        fail(kPrefix, "tensor '", entry_.name, "': data_offsets must be [begin, end]");
      fail(kPrefix, "tensor '", entry_.name, "': shape has more than ", limit,
           " dimensions (limit)");
    }
    target.push_back(value);
  }

  void add_entry() {
    const Entry& e = entry_;
    const std::pair<Field, const char*> required[] = {
        {Field::kDtype, "dtype"}, {Field::kShape, "shape"}, {Field::kOffsets, "data_offsets"}};
    for (const auto& [field, name] : required) {
      if (!(e.fields & field_bit(field)))
        fail(kPrefix, "tensor '", e.name, "' is missing \"", name, "\"");
    }
    TensorInfo info;
    info.name = e.name;
    info.dtype = parse_dtype(e.name, e.dtype);
    // Checked arithmetic throughout: a hostile shape must not wrap around to a small size.
    uint64_t count = 1;
    for (uint64_t dim : e.shape) {
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          __builtin_mul_overflow(count, dim, &count)) {
        fail(kPrefix, "tensor '", e.name, "': shape ", shape_text(e.shape),
             " overflows 64-bit element count");
      }
      info.shape.push_back(static_cast<int64_t>(dim));
    }
    uint64_t bytes = 0;
    if (count > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
        __builtin_mul_overflow(count, static_cast<uint64_t>(dtype_size(info.dtype)), &bytes)) {
      fail(kPrefix, "tensor '", e.name, "': shape ", shape_text(e.shape), " of ", e.dtype,
           " overflows 64-bit byte size");
    }
    info.begin = e.offsets[0];
    info.end = e.offsets[1];
    if (info.begin > info.end) {
      fail(kPrefix, "tensor '", e.name, "': data_offsets ", offsets_text(info.begin, info.end),
           " end before they begin");
    }
    if (info.end - info.begin != bytes) {
      fail(kPrefix, "tensor '", e.name, "': size mismatch: shape ", shape_text(e.shape), " of ",
           e.dtype, " needs ", bytes, " bytes, data_offsets ", offsets_text(info.begin, info.end),
           " hold ", info.end - info.begin);
    }
    if (bytes > limits_.max_tensor_bytes) {
      fail(kPrefix, "tensor '", e.name, "' has ", bytes, " bytes, over the limit of ",
           limits_.max_tensor_bytes);
    }
    if (data_size_known_ && info.end > data_size_) {
      fail(kPrefix, "tensor '", e.name, "': data_offsets ", offsets_text(info.begin, info.end),
           " reach beyond the end of the file (the data section has ", data_size_, " bytes)");
    }
    header_.tensors.push_back(std::move(info));
  }

  static DType parse_dtype(const std::string& tensor, const std::string& name) {
    for (const DTypeInfo& info : kDTypes) {
      if (name == info.name) return info.dtype;
    }
    fail(kPrefix, "tensor '", tensor, "' has unknown dtype '", name, "'");
  }

  const SafetensorsLimits& limits_;
  bool data_size_known_;
  uint64_t data_size_;
  SafetensorsHeader header_;
  Level level_ = Level::kStart;
  Field field_ = Field::kOther;
  size_t skip_ = 0;  // nesting depth inside an ignored field's value
  size_t tensor_count_ = 0;
  std::string top_key_;
  std::string metadata_key_;
  bool seen_metadata_ = false;
  Entry entry_;
};

// Names are checked once all are in: a set built while parsing cost more than the rest of it.
void check_unique_names(const SafetensorsHeader& header) {
  std::vector<const std::string*> names;
  names.reserve(header.tensors.size());
  for (const TensorInfo& t : header.tensors) names.push_back(&t.name);
  std::sort(names.begin(), names.end(),
            [](const std::string* a, const std::string* b) { return *a < *b; });
  const auto same =
      std::adjacent_find(names.begin(), names.end(),
                         [](const std::string* a, const std::string* b) { return *a == *b; });
  if (same != names.end()) fail(kPrefix, "duplicate entry '", **same, "' in the header");
}

// Tensors must tile [0, data_size) in order, as the reference reader demands.
void check_layout(const SafetensorsHeader& header) {
  uint64_t expected = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo& t : header.tensors) {
    if (t.begin < expected) {
      fail(kPrefix, "tensor '", t.name, "' at ", offsets_text(t.begin, t.end), " overlaps tensor '",
           previous->name, "' at ", offsets_text(previous->begin, previous->end));
    }
    if (t.begin > expected) {
      fail(kPrefix, "gap of ", t.begin - expected, " bytes before tensor '", t.name, "' at ",
           offsets_text(t.begin, t.end), ": tensor data must be contiguous");
    }
    expected = t.end;
    previous = &t;
  }
}

const uint8_t kEmpty[1] = {0};  // data pointer for zero-byte tensors: never null

}  // namespace

const char* dtype_name(DType dtype) {
  return info_of(dtype).name;
}
size_t dtype_size(DType dtype) {
  return info_of(dtype).size;
}

int64_t TensorInfo::element_count() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;  // validated against overflow when parsed
  return count;
}

const TensorInfo* SafetensorsHeader::find(const std::string& name) const {
  for (const TensorInfo& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

SafetensorsHeader parse_safetensors_header(const uint8_t* json, size_t json_size,
                                           uint64_t file_size, const SafetensorsLimits& limits) {
  if (json_size > limits.max_header_bytes) {
    fail(kPrefix, "header length ", json_size, " exceeds the limit of ", limits.max_header_bytes,
         " bytes");
  }
  uint64_t header_size = 8 + static_cast<uint64_t>(json_size);
  if (file_size != 0 && file_size < header_size) {
    fail(kPrefix, "header length ", json_size, " runs past the end of the file (", file_size,
         " bytes)");
  }
  // The spec requires the first byte to be '{'; trailing whitespace padding is accepted.
  if (json_size == 0 || json[0] != '{') {
    fail(kPrefix, "header is not a JSON object: it must start with '{'");
  }
  uint64_t data_available = file_size != 0 ? file_size - header_size : 0;
  HeaderParser parser(limits, file_size != 0, data_available);
  try {
    read_json(std::string_view(reinterpret_cast<const char*>(json), json_size), parser);
  } catch (const JsonSyntaxError& e) {
    fail(kPrefix, "header is not valid JSON: ", e.what());
  }
  SafetensorsHeader header = parser.take();
  check_unique_names(header);
  std::stable_sort(header.tensors.begin(), header.tensors.end(),
                   [](const TensorInfo& a, const TensorInfo& b) {
                     return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
                   });
  check_layout(header);
  header.header_size = header_size;
  header.data_size = header.tensors.empty() ? 0 : header.tensors.back().end;
  if (file_size != 0 && header.data_size != data_available) {
    fail(kPrefix, "trailing data: ", data_available - header.data_size,
         " bytes follow the last tensor, which ends at file byte ", header_size + header.data_size);
  }
  return header;
}

SafetensorsStream::SafetensorsStream(HeaderCallback on_header, TensorCallback on_tensor,
                                     uint64_t file_size, SafetensorsLimits limits)
    : on_header_(std::move(on_header)),
      on_tensor_(std::move(on_tensor)),
      file_size_(file_size),
      limits_(limits) {}

void SafetensorsStream::check_usable(const char* call) const {
  if (stage_ == Stage::kFailed) fail(kPrefix, call, " on a stream that already failed");
  if (stage_ == Stage::kFinished) fail(kPrefix, call, " after finish()");
}

void SafetensorsStream::feed(const uint8_t* bytes, size_t size) {
  check_usable("feed()");
  // Bytes fed here replace an uncommitted window; a tensor window had already grown pending_.
  if (window_kind_ == WindowKind::kTensor) pending_.resize(window_begin_);
  window_kind_ = WindowKind::kNone;
  try {
    while (size > 0) {
      size_t used = 0;
      switch (stage_) {
        case Stage::kLength:
          used = feed_length(bytes, size);
          break;
        case Stage::kJson:
          used = feed_json(bytes, size);
          break;
        case Stage::kTensors:
          used = feed_tensor(bytes, size);
          break;
        default:
          fail(kPrefix, "trailing data after the last tensor, which ends at file byte ",
               expected_total());
      }
      bytes += used;
      size -= used;
    }
  } catch (...) {
    stage_ = Stage::kFailed;
    throw;
  }
}

size_t SafetensorsStream::feed_length(const uint8_t* bytes, size_t size) {
  size_t take = std::min(size, sizeof length_bytes_ - length_have_);
  std::memcpy(length_bytes_ + length_have_, bytes, take);
  length_have_ += take;
  consumed_ += take;
  if (length_have_ == sizeof length_bytes_) {
    std::memcpy(&json_size_, length_bytes_, sizeof json_size_);
    if (json_size_ < 2)
      fail(kPrefix, "header length ", json_size_, " is too small for a JSON object");
    if (json_size_ > limits_.max_header_bytes) {
      fail(kPrefix, "header length ", json_size_, " exceeds the limit of ",
           limits_.max_header_bytes, " bytes");
    }
    if (file_size_ != 0 && json_size_ > file_size_ - std::min<uint64_t>(file_size_, 8)) {
      fail(kPrefix, "header length ", json_size_, " runs past the end of the file (", file_size_,
           " bytes)");
    }
    stage_ = Stage::kJson;
  }
  return take;
}

size_t SafetensorsStream::feed_json(const uint8_t* bytes, size_t size) {
  if (pending_.empty() && size >= json_size_) {  // whole header in this chunk: no copy
    consumed_ += json_size_;
    start_data_section(bytes);
    return json_size_;
  }
  size_t take = static_cast<size_t>(std::min<uint64_t>(size, json_size_ - pending_.size()));
  append_pending(bytes, take, json_size_);
  if (pending_.size() == json_size_) start_data_section(pending_.data());
  return take;
}

void SafetensorsStream::start_data_section(const uint8_t* json) {
  header_ = parse_safetensors_header(json, json_size_, file_size_, limits_);
  pending_.clear();
  stage_ = Stage::kTensors;
  if (on_header_) on_header_(header_);
  emit_tensor(nullptr);
}

// `size` more bytes of the current tensor are in its placed buffer; once complete, it is handed
// out (fed), or left ready for process_ready() (committed).
void SafetensorsStream::take_placed(size_t size, bool committed) {
  placed_have_ += size;
  consumed_ += size;
  if (placed_have_ == header_.tensors[next_tensor_].byte_size()) {
    const uint8_t* data = placed_;
    placed_ = nullptr;
    if (committed) {
      park(data);
    } else {
      emit_tensor(data);
    }
  }
}

size_t SafetensorsStream::feed_tensor(const uint8_t* bytes, size_t size) {
  uint64_t need = header_.tensors[next_tensor_].byte_size();
  if (placed_) {  // feed() after window() placed this tensor: keep filling its buffer
    const size_t take = static_cast<size_t>(std::min<uint64_t>(size, need - placed_have_));
    std::memcpy(placed_ + placed_have_, bytes, take);
    take_placed(take, false);
    return take;
  }
  if (pending_.empty() && size >= need) {  // whole tensor in this chunk: no copy
    consumed_ += need;
    emit_tensor(bytes);
    return need;
  }
  size_t take = static_cast<size_t>(std::min<uint64_t>(size, need - pending_.size()));
  append_pending(bytes, take, need);
  emit_pending_if_complete();
  return take;
}

// A large tensor's buffer is given back at once rather than kept for reuse: it would sit beside
// every weight loaded after it (in WebAssembly the heap never shrinks).
namespace {
void release_if_large(UninitializedVector<uint8_t>& buffer) {
  buffer.clear();
  if (buffer.capacity() > kKeptBufferBytes) UninitializedVector<uint8_t>().swap(buffer);
}
}  // namespace

// Hands out the tensor assembled in pending_ once all its bytes are there.
void SafetensorsStream::emit_pending_if_complete() {
  if (pending_.size() != header_.tensors[next_tensor_].byte_size()) return;
  emit_tensor(pending_.data());
  release_if_large(pending_);
}

// As emit_pending_if_complete, but the complete tensor is left ready for process_ready(), and
// pending_ takes ready_'s old buffer for the next tensor.
void SafetensorsStream::park_pending_if_complete() {
  const uint64_t need = header_.tensors[next_tensor_].byte_size();
  if (need < kDirectBytes) {  // a small tensor split over windows is handed out at once
    emit_pending_if_complete();
    return;
  }
  if (pending_.size() != need) return;
  process_ready();  // hands out the tensor left ready before, if any
  ready_.swap(pending_);
  pending_.clear();
  park(ready_.data());
}

// Leaves the current tensor (its bytes at `data`) for process_ready(), after handing out the one
// left before. The zero-byte tensors after it need no bytes: they are handed out at once, in
// order with the other small ones.
void SafetensorsStream::park(const uint8_t* data) {
  process_ready();
  ready_data_ = data;
  ready_tensor_ = next_tensor_;
  advance_past(next_tensor_);
}

void SafetensorsStream::process_ready() {
  check_usable("process_ready()");
  if (!ready_data_) return;
  const uint8_t* data = ready_data_;
  ready_data_ = nullptr;
  try {
    if (on_tensor_) on_tensor_(header_.tensors[ready_tensor_], data);
  } catch (...) {
    stage_ = Stage::kFailed;
    throw;
  }
  release_if_large(ready_);
}

SafetensorsStream::Window SafetensorsStream::window(size_t preferred) {
  check_usable("window()");
  preferred = std::max<size_t>(preferred, 1);
  window_kind_ = WindowKind::kNone;
  if (stage_ == Stage::kTensors) {
    const TensorInfo& tensor = header_.tensors[next_tensor_];
    const uint64_t need = tensor.byte_size();
    if (!placed_ && pending_.empty() && need >= kDirectBytes && file_size_ != 0 && place_) {
      placed_ = place_(tensor);
      placed_have_ = 0;
    }
    if (placed_) {
      window_size_ = static_cast<size_t>(need - placed_have_);
      window_kind_ = WindowKind::kPlaced;
      return {placed_ + placed_have_, window_size_};
    }
    if (!pending_.empty() || need >= kDirectBytes) {
      window_begin_ = pending_.size();
      window_size_ = direct_window(need, preferred);
      window_kind_ = WindowKind::kTensor;
      return {pending_.data() + window_begin_, window_size_};
    }
    // Small tensors: the scratch window stops where the next large tensor starts, so that one
    // lands in its own buffer.
    preferred = static_cast<size_t>(std::min<uint64_t>(preferred, bytes_to_next_direct_tensor()));
  } else if (stage_ == Stage::kLength) {
    // The header is taken exactly, so that the first tensor's window is chosen knowing its size.
    preferred = sizeof length_bytes_ - length_have_;
  } else if (stage_ == Stage::kJson) {
    preferred = static_cast<size_t>(std::min<uint64_t>(preferred, json_size_ - pending_.size()));
  }
  scratch_.resize(preferred);
  window_size_ = preferred;
  window_kind_ = WindowKind::kScratch;
  return {scratch_.data(), window_size_};
}

// Grows pending_ (the current tensor's buffer) by the bytes the next window may take; returns
// how many.
size_t SafetensorsStream::direct_window(uint64_t need, size_t preferred) {
  const size_t have = pending_.size();
  uint64_t take = need - have;
  // With a known file size the tensor's bytes are backed by the file: its whole buffer is
  // reserved at once. A stream of unknown size could claim a huge tensor and send little, so
  // the buffer then grows with what arrives (as append_pending does).
  if (file_size_ == 0) take = std::min<uint64_t>(take, std::max<uint64_t>(preferred, have));
  if (have + take > pending_.capacity()) {
    pending_.reserve(static_cast<size_t>(
        file_size_ != 0 ? need
                        : std::max<uint64_t>(have + take, 2 * uint64_t{pending_.capacity()})));
  }
  pending_.resize(have + static_cast<size_t>(take));
  return static_cast<size_t>(take);
}

uint64_t SafetensorsStream::bytes_to_next_direct_tensor() const {
  const uint64_t position = consumed_ - header_.header_size;  // in the data section
  for (size_t i = next_tensor_; i < header_.tensors.size(); ++i) {
    const TensorInfo& tensor = header_.tensors[i];
    if (tensor.byte_size() >= kDirectBytes) return tensor.begin - position;
  }
  return header_.data_size - position + 1;  // +1: room to notice trailing bytes
}

void SafetensorsStream::commit(size_t size) {
  check_usable("commit()");
  const WindowKind kind = window_kind_;
  window_kind_ = WindowKind::kNone;
  if (kind == WindowKind::kNone) fail(kPrefix, "commit() without a window() before it");
  if (size > window_size_) {
    stage_ = Stage::kFailed;
    fail(kPrefix, "commit() of ", size, " bytes into a window of ", window_size_);
  }
  if (kind == WindowKind::kScratch) {
    feed(scratch_.data(), size);
    if (stage_ == Stage::kDone) UninitializedVector<uint8_t>().swap(scratch_);
    return;
  }
  try {
    if (kind == WindowKind::kPlaced) {
      take_placed(size, true);
    } else {
      pending_.resize(window_begin_ + size);
      consumed_ += size;
      park_pending_if_complete();
    }
  } catch (...) {
    stage_ = Stage::kFailed;
    throw;
  }
}

void SafetensorsStream::append_pending(const uint8_t* bytes, size_t take, uint64_t need) {
  size_t want = pending_.size() + take;
  if (want > pending_.capacity()) {
    // With a known file size, `need` is backed by real bytes: reserve it at once. A stream of
    // unknown size could claim a huge tensor and send little, so grow with what arrives instead.
    uint64_t grown = std::max<uint64_t>(want, 2 * static_cast<uint64_t>(pending_.capacity()));
    pending_.reserve(static_cast<size_t>(file_size_ != 0 ? need : std::min(need, grown)));
  }
  pending_.insert(pending_.end(), bytes, bytes + take);
  consumed_ += take;
}

// Hands out the current tensor (when `data` is given), then every zero-byte tensor that follows,
// since those need no input.
void SafetensorsStream::emit_tensor(const uint8_t* data) {
  const size_t current = next_tensor_;
  if (data != nullptr && on_tensor_) on_tensor_(header_.tensors[current], data);
  advance_past(data != nullptr ? current : header_.tensors.size());
}

// Moves next_tensor_ past `tensor` (unless it is tensors.size(): none) and hands out the
// zero-byte tensors after it, which need no input; the stream is done when none are left.
void SafetensorsStream::advance_past(size_t tensor) {
  const std::vector<TensorInfo>& tensors = header_.tensors;
  if (tensor < tensors.size()) next_tensor_ = tensor + 1;
  while (next_tensor_ < tensors.size() && tensors[next_tensor_].byte_size() == 0) {
    if (on_tensor_) on_tensor_(tensors[next_tensor_], kEmpty);
    ++next_tensor_;
  }
  if (next_tensor_ == tensors.size()) {
    stage_ = Stage::kDone;
    UninitializedVector<uint8_t>().swap(pending_);
  }
}

void SafetensorsStream::finish() {
  if (stage_ == Stage::kFailed) fail(kPrefix, "finish() on a stream that already failed");
  if (stage_ == Stage::kFinished) return;
  process_ready();
  try {
    switch (stage_) {
      case Stage::kLength:
        fail(kPrefix, "truncated: expected 8 bytes of header length, got ", consumed_);
      case Stage::kJson:
        fail(kPrefix, "truncated: expected ", 8 + json_size_, " bytes of header, got ", consumed_);
      case Stage::kTensors:
        fail(kPrefix, "truncated: expected ", expected_total(), " bytes, got ", consumed_,
             " (tensor '", header_.tensors[next_tensor_].name, "' is incomplete)");
      default:
        break;
    }
    // Header validation already matched the data section to a known file size; this guards the
    // invariant rather than any input.
    if (file_size_ != 0 && consumed_ != file_size_) {
      fail(kPrefix, "read ", consumed_, " bytes but the file has ", file_size_);
    }
    stage_ = Stage::kFinished;
    UninitializedVector<uint8_t>().swap(scratch_);
  } catch (...) {
    stage_ = Stage::kFailed;
    throw;
  }
}

void read_safetensors_file(const std::string& path,
                           const SafetensorsStream::HeaderCallback& on_header,
                           const SafetensorsStream::TensorCallback& on_tensor,
                           const SafetensorsLimits& limits) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("cannot open safetensors file '", path, "'");
  in.seekg(0, std::ios::end);
  std::streamoff file_size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (file_size < 0 || !in) fail("cannot determine the size of safetensors file '", path, "'");
  try {
    SafetensorsStream stream(on_header, on_tensor, static_cast<uint64_t>(file_size), limits);
    // Read straight into the stream's windows: large tensors land in their own buffers.
    while (in) {
      const SafetensorsStream::Window window = stream.window(1 << 20);
      in.read(reinterpret_cast<char*>(window.data), static_cast<std::streamsize>(window.size));
      stream.commit(static_cast<size_t>(in.gcount()));
      stream.process_ready();  // nothing to overlap here: tensors come in file order
    }
    if (in.bad()) fail("read error");
    stream.finish();
  } catch (const Error& e) {
    fail("'", path, "': ", e.what());
  }
}

namespace {

// IEEE half to float without a table: exact for every input. Selections are written as masks,
// not branches, so compilers vectorize the loop that calls this.
inline float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t magnitude = h & 0x7fffu;
  // Normal numbers: shift exponent and mantissa into place, rebias the exponent from 15 to 127.
  uint32_t bits = (magnitude << 13) + 0x38000000u;
  // Infinity and NaN (exponent 31) must land on exponent 255: rebias once more. NaN payloads stay.
  bits += static_cast<uint32_t>(magnitude >= 0x7c00u) * 0x38000000u;
  // Zero and subnormals: mantissa x 2^-24, which float holds exactly.
  float subnormal = static_cast<float>(static_cast<int32_t>(magnitude)) * 0x1p-24f;
  uint32_t subnormal_bits;
  std::memcpy(&subnormal_bits, &subnormal, 4);
  uint32_t is_subnormal = 0u - static_cast<uint32_t>(magnitude < 0x0400u);
  bits = (subnormal_bits & is_subnormal) | (bits & ~is_subnormal) | sign;
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

}  // namespace

void convert_to_f32(DType dtype, const uint8_t* src, size_t count, float* dst) {
  switch (dtype) {
    case DType::F32:
      if (count) std::memcpy(dst, src, count * 4);
      return;
    case DType::F16:
      for (size_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = f16_to_f32(h);
      }
      return;
    case DType::BF16:
      // bfloat16 is the top half of a float.
      for (size_t i = 0; i < count; ++i) {
        uint16_t b;
        std::memcpy(&b, src + 2 * i, 2);
        uint32_t bits = static_cast<uint32_t>(b) << 16;
        std::memcpy(dst + i, &bits, 4);
      }
      return;
    default:
      fail(kPrefix, "convert_to_f32: dtype ", dtype_name(dtype), " is not a floating-point type");
  }
}

}  // namespace clip

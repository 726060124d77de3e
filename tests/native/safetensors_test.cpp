// Safetensors reader: round trips, chunking, the one-tensor buffer bound, every rejection path,
// exact F16/BF16 conversion, and a file written by the safetensors package itself.
#include "safetensors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "common.h"
#include "test-support.h"

namespace clip {
namespace {

// ---- a tiny writer: files are built in memory ----

struct Spec {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

std::string le64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(value >> (8 * i));
  return out;
}

// Length prefix + JSON + data, with the JSON taken as is (for malformed headers).
std::string raw_file(const std::string& json, const std::string& data = "") {
  return le64(json.size()) + json + data;
}

// A well-formed file: tensors laid out back to back in the given order, JSON padded with spaces to
// a multiple of 8 as the reference writer does.
std::string write_file(const std::vector<Spec>& specs,
                       const std::map<std::string, std::string>& metadata = {}) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string data;
  for (const Spec& s : specs) {
    header[s.name] = {{"dtype", s.dtype},
                      {"shape", s.shape},
                      {"data_offsets", {data.size(), data.size() + s.bytes.size()}}};
    data += s.bytes;
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');
  return raw_file(json, data);
}

template <typename T>
std::string bytes_of(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape,
                  uint64_t begin, uint64_t end) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape +
         ",\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(end) + "]}";
}

// ---- a reader that records everything the stream reports ----

struct Received {
  SafetensorsHeader header;
  std::vector<TensorInfo> tensors;
  std::vector<std::string> data;
  int header_calls = 0;
  size_t max_buffer = 0;  // largest buffer_capacity() seen inside a callback
};

const uint8_t* as_bytes(const std::string& s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}

// Feeds `file` in chunks of the given sizes (cycled), then calls finish().
Received read_chunked(const std::string& file, const std::vector<size_t>& chunks,
                      uint64_t file_size = 0, const SafetensorsLimits& limits = {}) {
  Received r;
  SafetensorsStream* self = nullptr;
  SafetensorsStream stream(
      [&](const SafetensorsHeader& h) {
        EXPECT_TRUE(r.tensors.empty()) << "header after a tensor";
        r.header = h;
        ++r.header_calls;
        r.max_buffer = std::max(r.max_buffer, self->buffer_capacity());
      },
      [&](const TensorInfo& info, const uint8_t* data) {
        EXPECT_NE(data, nullptr);
        r.tensors.push_back(info);
        r.data.emplace_back(reinterpret_cast<const char*>(data), info.byte_size());
        r.max_buffer = std::max(r.max_buffer, self->buffer_capacity());
      },
      file_size, limits);
  self = &stream;
  size_t pos = 0;
  for (size_t i = 0; pos < file.size(); ++i) {
    size_t n = std::min(chunks[i % chunks.size()], file.size() - pos);
    stream.feed(as_bytes(file) + pos, n);
    pos += n;
  }
  stream.finish();
  EXPECT_EQ(stream.bytes_consumed(), file.size());
  return r;
}

// Reads `file` through window()/commit(), as a file read straight into memory does: each window
// of at most `preferred` bytes is filled by "reads" of at most `max_read` bytes. Every other
// window, process_ready() runs between the read and the commit, as it does for a reader whose
// reads overlap the processing (it must leave the window's bytes alone); otherwise a later
// commit() or finish() hands out the ready tensor. Large tensors may then come after smaller ones
// that follow them: the order of the file is checked within each kind, and the tensors are
// returned in file order. `direct` counts the tensors handed out from inside a window they were
// read into (no copy).
Received read_windowed(const std::string& file, size_t preferred, size_t max_read,
                       uint64_t file_size = 0, size_t* direct = nullptr,
                       const SafetensorsLimits& limits = {}) {
  Received r;
  struct Filled {
    const uint8_t* data;
    size_t size;
    size_t file_pos;
  };
  std::vector<Filled> filled;  // every committed window, with where its bytes are in the file
  SafetensorsStream stream(
      [&](const SafetensorsHeader& h) {
        r.header = h;
        ++r.header_calls;
      },
      [&](const TensorInfo& info, const uint8_t* data) {
        r.tensors.push_back(info);
        r.data.emplace_back(reinterpret_cast<const char*>(data), info.byte_size());
        // In place: the tensor's last bytes were read where the data handed out has them.
        const uint64_t end = r.header.header_size + info.end;
        const bool read_in_place = std::any_of(filled.begin(), filled.end(), [&](const Filled& w) {
          return w.size > 0 && w.file_pos + w.size == end &&
                 w.data + w.size == data + info.byte_size();
        });
        if (direct && info.byte_size() >= SafetensorsStream::kDirectBytes && read_in_place) {
          ++*direct;
        }
      },
      file_size, limits);
  size_t pos = 0;
  for (size_t i = 0; pos < file.size(); ++i) {
    SafetensorsStream::Window window = stream.window(preferred);
    EXPECT_GT(window.size, 0u);
    size_t n = std::min({window.size, max_read, file.size() - pos});
    std::memcpy(window.data, file.data() + pos, n);
    if (i % 2 == 1) stream.process_ready();
    stream.commit(n);
    filled.push_back({window.data, n, pos});
    pos += n;
  }
  stream.finish();
  EXPECT_EQ(stream.bytes_consumed(), file.size());
  uint64_t last_end[2] = {0, 0};  // per kind: small, large
  std::vector<size_t> order(r.tensors.size());
  for (size_t i = 0; i < order.size(); ++i) {
    const TensorInfo& t = r.tensors[i];
    uint64_t& end = last_end[t.byte_size() >= SafetensorsStream::kDirectBytes];
    EXPECT_LE(end, t.begin) << "'" << t.name << "' out of order among tensors of its kind";
    end = t.end;
    order[i] = i;
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return r.tensors[a].begin < r.tensors[b].begin; });
  Received sorted = r;
  for (size_t i = 0; i < order.size(); ++i) {
    sorted.tensors[i] = r.tensors[order[i]];
    sorted.data[i] = r.data[order[i]];
  }
  return sorted;
}

Received read_whole(const std::string& file, uint64_t file_size = 0) {
  return read_chunked(file, {std::max<size_t>(file.size(), 1)}, file_size);
}

// The clip::Error message from reading `file` (feeding it whole, known size unless told), or a
// test failure if it was accepted. Byte-by-byte feeding must fail with the same message.
std::string error_of(const std::string& file, bool size_known = true,
                     const SafetensorsLimits& limits = {}) {
  uint64_t file_size = size_known ? file.size() : 0;
  std::string whole, bytewise;
  try {
    read_chunked(file, {std::max<size_t>(file.size(), 1)}, file_size, limits);
    ADD_FAILURE() << "accepted a malformed file";
  } catch (const Error& e) {
    whole = e.what();
  }
  try {
    read_chunked(file, {1}, file_size, limits);
  } catch (const Error& e) {
    bytewise = e.what();
  }
  EXPECT_EQ(whole, bytewise);
  std::string windowed;
  try {
    read_windowed(file, 5, 3, file_size, nullptr, limits);
  } catch (const Error& e) {
    windowed = e.what();
  }
  EXPECT_EQ(whole, windowed);
  return whole;
}

#define EXPECT_ERROR(file_expr, substring)                                        \
  do {                                                                            \
    std::string error_message = error_of(file_expr);                              \
    EXPECT_NE(error_message.find(substring), std::string::npos) << error_message; \
  } while (0)

// ---- round trips ----

std::vector<Spec> all_dtypes() {
  std::vector<float> f32 = {1.5f, -2.25f, 0.0f, 3.0e38f, -1.0e-40f, 7.0f};
  std::vector<uint16_t> f16 = {0x3c00, 0xc000, 0x0001,
                               0x7bff, 0x8400, 0x3555};  // 1, -2, 2^-24, 65504, -2^-14, ~1/3
  std::vector<uint16_t> bf16 = {0x3f80, 0xc040, 0x0001, 0x7f7f};  // 1, -3, tiny, ~3.39e38
  std::vector<int8_t> i8 = {-128, -1, 0, 127};
  std::vector<uint8_t> u8 = {0, 1, 200, 255, 7};
  std::vector<int32_t> i32 = {INT32_MIN, -1, 0, INT32_MAX};
  return {{"w.f32", "F32", {2, 3}, bytes_of(f32)}, {"w.f16", "F16", {3, 2}, bytes_of(f16)},
          {"w.bf16", "BF16", {4}, bytes_of(bf16)}, {"ids.i8", "I8", {2, 2}, bytes_of(i8)},
          {"px.u8", "U8", {5}, bytes_of(u8)},      {"n.i32", "I32", {1, 4, 1}, bytes_of(i32)}};
}

TEST(Safetensors, RoundTripsEveryDtype) {
  std::vector<Spec> specs = all_dtypes();
  std::string file = write_file(specs, {{"format", "pt"}, {"who", "test"}});
  Received r = read_whole(file, file.size());
  ASSERT_EQ(r.header_calls, 1);
  ASSERT_EQ(r.tensors.size(), specs.size());
  EXPECT_EQ(r.header.metadata.at("format"), "pt");
  EXPECT_EQ(r.header.metadata.at("who"), "test");
  EXPECT_EQ(r.header.header_size % 8, 0u);
  EXPECT_EQ(r.header.header_size + r.header.data_size, file.size());
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ(r.tensors[i].name, specs[i].name);
    EXPECT_STREQ(dtype_name(r.tensors[i].dtype), specs[i].dtype.c_str());
    EXPECT_EQ(r.tensors[i].shape, specs[i].shape);
    EXPECT_EQ(r.data[i], specs[i].bytes) << specs[i].name;
    EXPECT_EQ(static_cast<uint64_t>(r.tensors[i].element_count()) * dtype_size(r.tensors[i].dtype),
              r.tensors[i].byte_size());
    ASSERT_NE(r.header.find(specs[i].name), nullptr);
    EXPECT_EQ(r.header.find(specs[i].name)->begin, r.tensors[i].begin);
  }
  EXPECT_EQ(r.header.find("absent"), nullptr);

  std::vector<float> out(6);
  convert_to_f32(DType::F32, as_bytes(r.data[0]), 6, out.data());
  EXPECT_EQ(out, (std::vector<float>{1.5f, -2.25f, 0.0f, 3.0e38f, -1.0e-40f, 7.0f}));
  convert_to_f32(DType::F16, as_bytes(r.data[1]), 6, out.data());
  EXPECT_EQ(out, (std::vector<float>{1.0f, -2.0f, std::ldexp(1.0f, -24), 65504.0f,
                                     -std::ldexp(1.0f, -14), 0.333251953125f}));
  convert_to_f32(DType::BF16, as_bytes(r.data[2]), 4, out.data());
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], -3.0f);
  EXPECT_EQ(out[2], std::ldexp(1.0f, -133));  // a float subnormal
  EXPECT_EQ(out[3], 3.3895314e38f);
}

TEST(Safetensors, AcceptsPaddingEmptyFilesZeroSizeAndUnknownFields) {
  // Trailing spaces and newlines after the object are legal padding.
  std::string json = "{" + entry("a", "U8", "[2]", 0, 2) + "}   \n  ";
  Received padded = read_whole(raw_file(json, "xy"));
  ASSERT_EQ(padded.tensors.size(), 1u);
  EXPECT_EQ(padded.data[0], "xy");

  Received empty = read_whole(raw_file("{}"), 10);
  EXPECT_EQ(empty.header_calls, 1);
  EXPECT_TRUE(empty.tensors.empty());

  // Zero-size tensors share an offset with their neighbours and still arrive, in order.
  std::string zeros = write_file({{"z0", "F32", {0, 3}, ""},
                                  {"a", "U8", {1}, "q"},
                                  {"z1", "I32", {4, 0}, ""},
                                  {"s", "F32", {}, bytes_of(std::vector<float>{2.5f})}});
  for (size_t chunk : {1, 3, 100}) {
    Received r = read_chunked(zeros, {chunk});
    ASSERT_EQ(r.tensors.size(), 4u);
    EXPECT_EQ(r.tensors[0].name, "z0");
    EXPECT_EQ(r.tensors[1].name, "a");
    EXPECT_EQ(r.tensors[2].name, "z1");
    EXPECT_EQ(r.tensors[3].shape, std::vector<int64_t>{});
    EXPECT_EQ(r.tensors[3].element_count(), 1);
  }

  // Unknown fields are ignored, as the reference reader does, whatever their nesting.
  std::string extra =
      R"({"a":{"quant":{"x":[1,[2,{"y":null}]],"dtype":5},"dtype":"U8","shape":[1],)"
      R"("data_offsets":[0,1],"note":"n"}})";
  EXPECT_EQ(read_whole(raw_file(extra, "k")).data[0], "k");
}

TEST(Safetensors, SortsTensorsByOffset) {
  // Header order differs from data order; callbacks follow the data.
  std::string json =
      "{" + entry("second", "U8", "[2]", 3, 5) + "," + entry("first", "U8", "[3]", 0, 3) + "}";
  Received r = read_whole(raw_file(json, "abcde"));
  ASSERT_EQ(r.tensors.size(), 2u);
  EXPECT_EQ(r.tensors[0].name, "first");
  EXPECT_EQ(r.data[0], "abc");
  EXPECT_EQ(r.data[1], "de");
  EXPECT_EQ(r.header.tensors[0].name, "first");
}

// ---- streaming ----

std::string signature(const Received& r) {
  std::string s = std::to_string(r.header.header_size) + "/" + std::to_string(r.header.data_size);
  for (size_t i = 0; i < r.tensors.size(); ++i) s += "|" + r.tensors[i].name + ":" + r.data[i];
  return s;
}

std::string mixed_file() {
  std::vector<Spec> specs = all_dtypes();
  std::mt19937 rng(3);
  std::string big(5000, '\0');
  for (char& c : big) c = static_cast<char>(rng());
  specs.push_back({"big", "U8", {50, 100}, big});
  specs.insert(specs.begin() + 2, {"nothing", "F16", {0}, ""});
  return write_file(specs, {{"k", "v"}});
}

TEST(Safetensors, ChunkSizeDoesNotChangeTheResult) {
  std::string file = mixed_file();
  std::string expected = signature(read_whole(file));
  for (size_t chunk : {1, 2, 3, 5, 7, 8, 9, 13, 64, 1000, 4096}) {
    EXPECT_EQ(signature(read_chunked(file, {chunk})), expected) << "chunk " << chunk;
    EXPECT_EQ(signature(read_chunked(file, {chunk}, file.size())), expected) << "chunk " << chunk;
  }
  std::mt19937 rng(11);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<size_t> chunks(37);
    for (size_t& c : chunks) c = 1 + rng() % (trial % 2 ? 16 : 3000);
    EXPECT_EQ(signature(read_chunked(file, chunks)), expected) << "trial " << trial;
  }
  // Empty feeds are harmless.
  SafetensorsStream stream(nullptr, nullptr);
  stream.feed(nullptr, 0);
  stream.feed(as_bytes(file), file.size());
  stream.feed(nullptr, 0);
  stream.finish();
  EXPECT_EQ(stream.bytes_consumed(), file.size());
}

// A file with tensors on both sides of SafetensorsStream::kDirectBytes.
std::string large_and_small_file() {
  std::mt19937 rng(5);
  auto random_bytes = [&](size_t n) {
    std::string bytes(n, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    return bytes;
  };
  const size_t direct = SafetensorsStream::kDirectBytes;
  return write_file(
      {{"bias", "F32", {3}, random_bytes(12)},
       {"weight", "F32", {static_cast<int64_t>(direct / 4) + 5}, random_bytes(direct + 20)},
       {"norm", "F16", {7}, random_bytes(14)},
       {"empty", "F32", {0}, ""},
       {"embedding", "U8", {3, static_cast<int64_t>(direct)}, random_bytes(3 * direct)},
       {"scale", "F32", {}, random_bytes(4)}});
}

TEST(Safetensors, WindowsReadLargeTensorsInPlace) {
  const std::string file = large_and_small_file();
  const std::string expected = signature(read_whole(file));
  for (uint64_t size : {uint64_t{0}, uint64_t{file.size()}}) {
    for (size_t preferred : {1, 7, 100, 4096, 1 << 20}) {
      for (size_t max_read : {1000, 1 << 30}) {
        size_t direct = 0;
        EXPECT_EQ(signature(read_windowed(file, preferred, max_read, size, &direct)), expected)
            << "preferred " << preferred << " read " << max_read << " size " << size;
        // With the size known, every large tensor arrives in one buffer that the reads filled.
        if (size != 0 && preferred >= 4096) {
          EXPECT_EQ(direct, 2u) << preferred << " " << max_read;
        }
      }
    }
  }
  // Short reads everywhere (each read a commit: ~37k of them).
  EXPECT_EQ(signature(read_windowed(file, 1, 7)), expected);
  EXPECT_EQ(signature(read_windowed(file, 4096, 7, file.size())), expected);
  // Windows and feed() mix.
  SafetensorsStream stream(nullptr, nullptr, file.size());
  size_t pos = 0;
  for (int i = 0; pos < file.size(); ++i) {
    size_t n = std::min<size_t>(file.size() - pos, 777);
    if (i % 2) {
      stream.feed(as_bytes(file) + pos, n);
    } else {
      SafetensorsStream::Window w = stream.window(500);
      n = std::min(n, w.size);
      std::memcpy(w.data, file.data() + pos, n);
      stream.commit(n);
    }
    pos += n;
  }
  stream.finish();
  EXPECT_EQ(stream.bytes_consumed(), file.size());
}

TEST(Safetensors, FedBytesReplaceAnUncommittedWindow) {
  // Before every feed() a window is asked for, scribbled on and abandoned: at each point of the
  // file (header length, header, small and large tensors, with and without a known size) the
  // stream must deliver exactly the fed bytes.
  const std::string file = large_and_small_file();
  const std::string expected = signature(read_whole(file));
  for (uint64_t size : {uint64_t{0}, uint64_t{file.size()}}) {
    for (size_t piece : {size_t{5}, size_t{4096}, size_t{1} << 20}) {
      Received r;
      SafetensorsStream stream([&](const SafetensorsHeader& h) { r.header = h; },
                               [&](const TensorInfo& info, const uint8_t* data) {
                                 r.tensors.push_back(info);
                                 r.data.emplace_back(reinterpret_cast<const char*>(data),
                                                     info.byte_size());
                               },
                               size);
      for (size_t pos = 0; pos < file.size();) {
        const SafetensorsStream::Window w = stream.window(1 << 20);
        std::memset(w.data, 0xAB, w.size);
        const size_t n = std::min(piece, file.size() - pos);
        stream.feed(as_bytes(file) + pos, n);
        pos += n;
      }
      stream.finish();
      EXPECT_EQ(signature(r), expected) << "size " << size << " piece " << piece;
    }
  }
}

TEST(Safetensors, CommittedLargeTensorWaitsForProcessReady) {
  const size_t large = SafetensorsStream::kDirectBytes;
  const std::string file =
      write_file({{"a", "U8", {static_cast<int64_t>(large)}, std::string(large, 'a')},
                  {"z", "F32", {0}, ""},
                  {"b", "U8", {2}, "bb"},
                  {"c", "U8", {static_cast<int64_t>(large)}, std::string(large, 'c')},
                  {"d", "U8", {2}, "dd"},
                  {"e", "U8", {static_cast<int64_t>(large)}, std::string(large, 'e')}});
  std::vector<std::string> seen;
  SafetensorsStream stream(
      nullptr,
      [&](const TensorInfo& info, const uint8_t* data) {
        const size_t shown = static_cast<size_t>(std::min<uint64_t>(info.byte_size(), 2));
        seen.push_back(info.name + ":" + std::string(reinterpret_cast<const char*>(data), shown));
      },
      file.size());
  size_t pos = 0;
  auto read_window = [&] {
    SafetensorsStream::Window w = stream.window(1 << 20);
    const size_t n = std::min(w.size, file.size() - pos);
    std::memcpy(w.data, file.data() + pos, n);
    pos += n;
    return n;
  };
  stream.commit(read_window());  // the header's length
  stream.commit(read_window());  // the header
  stream.process_ready();        // nothing is ready: no effect
  stream.commit(read_window());  // all of "a": it waits; the zero-byte "z" after it does not
  EXPECT_EQ(seen, (std::vector<std::string>{"z:"}));
  stream.commit(read_window());  // "b" is handed out at once
  EXPECT_EQ(seen, (std::vector<std::string>{"z:", "b:bb"}));
  const size_t n = read_window();  // "c", read while "a" is processed
  stream.process_ready();
  EXPECT_EQ(seen, (std::vector<std::string>{"z:", "b:bb", "a:aa"}));
  stream.commit(n);
  stream.commit(read_window());  // "d"
  stream.commit(read_window());  // all of "e": "c" is handed out first
  EXPECT_EQ(seen, (std::vector<std::string>{"z:", "b:bb", "a:aa", "d:dd", "c:cc"}));
  stream.finish();
  EXPECT_EQ(seen.back(), "e:ee");
  EXPECT_EQ(seen.size(), 6u);
}

TEST(Safetensors, FailureWhileProcessingAReadyTensorFailsTheStream) {
  const size_t large = SafetensorsStream::kDirectBytes;
  const std::string file =
      write_file({{"a", "U8", {static_cast<int64_t>(large)}, std::string(large, 'a')},
                  {"b", "U8", {2}, "bb"}});
  SafetensorsStream stream(
      nullptr,
      [](const TensorInfo& info, const uint8_t*) { fail("tensor '", info.name, "' refused"); },
      file.size());
  size_t pos = 0;
  for (int i = 0; i < 3; ++i) {  // the header's length, the header, "a"
    SafetensorsStream::Window w = stream.window(1 << 20);
    const size_t n = std::min(w.size, file.size() - pos);
    std::memcpy(w.data, file.data() + pos, n);
    stream.commit(n);
    pos += n;
  }
  auto error_of_call = [](auto call) -> std::string {
    try {
      call();
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  stream.window(1 << 20);
  const std::string refused = error_of_call([&] { stream.process_ready(); });
  EXPECT_NE(refused.find("tensor 'a' refused"), std::string::npos) << refused;
  for (const std::string& again :
       {error_of_call([&] { stream.commit(2); }), error_of_call([&] { stream.process_ready(); })}) {
    EXPECT_NE(again.find("on a stream that already failed"), std::string::npos) << again;
  }
}

TEST(Safetensors, PlacedTensorsAreReadIntoTheCallersBuffer) {
  const std::string file = large_and_small_file();
  const Received whole = read_whole(file);
  for (bool mix_feed : {false, true}) {
    std::vector<uint8_t> target;
    std::map<std::string, const uint8_t*> seen;
    SafetensorsStream sized(
        nullptr, [&](const TensorInfo& info, const uint8_t* data) { seen[info.name] = data; },
        file.size());
    int asked = 0;
    sized.set_placement([&](const TensorInfo& info) -> uint8_t* {
      ++asked;
      if (info.name != "embedding") return nullptr;
      target.resize(info.byte_size());
      return target.data();
    });
    size_t pos = 0;
    for (int i = 0; pos < file.size(); ++i) {
      // Commits of at most 5000 bytes, so the placed tensor takes several; with mix_feed every
      // other piece of it comes through feed() instead.
      SafetensorsStream::Window w = sized.window(10000);
      const size_t n = std::min({file.size() - pos, w.size, size_t{5000}});
      const bool placed =
          !target.empty() && w.data >= target.data() && w.data < target.data() + target.size();
      if (mix_feed && placed && i % 2) {
        sized.feed(as_bytes(file) + pos, n);
      } else {
        std::memcpy(w.data, file.data() + pos, n);
        sized.commit(n);
      }
      pos += n;
    }
    sized.finish();
    EXPECT_EQ(asked, 2);  // the two tensors of kDirectBytes or more
    ASSERT_EQ(seen["embedding"], target.data());
    for (size_t i = 0; i < whole.tensors.size(); ++i) {
      if (whole.tensors[i].name == "embedding") {
        EXPECT_EQ(std::string(target.begin(), target.end()), whole.data[i]);
      }
    }
  }
}

TEST(Safetensors, WindowMisuseIsAnError) {
  const std::string file = large_and_small_file();
  SafetensorsStream stream(nullptr, nullptr, file.size());
  try {
    stream.commit(1);
    FAIL() << "commit without a window accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("commit() without a window()"), std::string::npos);
  }
  SafetensorsStream::Window w = stream.window(16);
  EXPECT_EQ(w.size, 8u);  // the header length comes first, exactly
  try {
    stream.commit(9);
    FAIL() << "commit past the window accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("commit() of 9 bytes into a window of 8"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(stream.window(16), Error);  // the stream failed
  // A window abandoned for feed(): the fed bytes count, the window does not.
  SafetensorsStream again(nullptr, nullptr, file.size());
  again.window(8);
  again.feed(as_bytes(file), file.size());
  EXPECT_THROW(again.commit(0), Error);
  again.finish();
}

TEST(Safetensors, BufferHoldsAtMostTheHeaderOrOneTensor) {
  std::string file = mixed_file();
  Received whole = read_whole(file);
  uint64_t largest = 0;
  for (const TensorInfo& t : whole.tensors) largest = std::max(largest, t.byte_size());
  uint64_t json_size = whole.header.header_size - 8;
  // One chunk holding the whole file: header and tensors are read in place, nothing is copied.
  EXPECT_EQ(whole.max_buffer, 0u);
  for (size_t chunk : {1, 7, 64, 4096}) {
    for (uint64_t size : {uint64_t{0}, uint64_t{file.size()}}) {
      Received r = read_chunked(file, {chunk}, size);
      EXPECT_LE(r.max_buffer, std::max(json_size, largest)) << "chunk " << chunk;
      EXPECT_GT(r.max_buffer, 0u) << "chunk " << chunk;
    }
  }
  // A tensor inside one chunk is handed out straight from that chunk.
  const uint8_t* seen = nullptr;
  std::string file2 = write_file({{"a", "U8", {4}, "abcd"}});
  SafetensorsStream stream(nullptr, [&](const TensorInfo&, const uint8_t* data) { seen = data; });
  stream.feed(as_bytes(file2), file2.size());
  EXPECT_EQ(seen, as_bytes(file2) + file2.size() - 4);
}

TEST(Safetensors, CallbackExceptionsPropagateAndFailTheStream) {
  std::string file = mixed_file();
  int tensors = 0;
  SafetensorsStream stream(nullptr, [&](const TensorInfo& info, const uint8_t*) {
    if (++tensors == 2) throw std::runtime_error("consumer rejects " + info.name);
  });
  try {
    stream.feed(as_bytes(file), file.size());
    FAIL() << "callback exception swallowed";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("consumer rejects"), std::string::npos);
  }
  EXPECT_EQ(tensors, 2);
  try {
    stream.feed(as_bytes(file), 1);
    FAIL() << "feed after failure accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("already failed"), std::string::npos) << e.what();
  }
  EXPECT_THROW(stream.finish(), Error);
  EXPECT_EQ(tensors, 2);

  // A header callback that throws stops the stream before any tensor.
  SafetensorsStream header_stream(
      [](const SafetensorsHeader&) { throw Error("no thanks"); },
      [&](const TensorInfo&, const uint8_t*) { ADD_FAILURE() << "tensor after failure"; });
  EXPECT_THROW(header_stream.feed(as_bytes(file), file.size()), Error);
  EXPECT_THROW(header_stream.feed(as_bytes(file), 0), Error);
}

TEST(Safetensors, FeedAfterFinishIsAnError) {
  std::string file = write_file({{"a", "U8", {1}, "x"}});
  SafetensorsStream stream(nullptr, nullptr);
  stream.feed(as_bytes(file), file.size());
  stream.finish();
  stream.finish();  // idempotent
  try {
    stream.feed(as_bytes(file), 1);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("after finish"), std::string::npos) << e.what();
  }
}

// ---- rejection paths: each names the problem ----

TEST(Safetensors, RejectsBadLengths) {
  EXPECT_ERROR(std::string("\x05\x00\x00", 3),
               "truncated: expected 8 bytes of header length, got 3");
  EXPECT_ERROR(std::string(), "truncated: expected 8 bytes of header length, got 0");
  EXPECT_ERROR(le64(0), "header length 0 is too small");
  EXPECT_ERROR(le64(uint64_t{1} << 40) + "{}", "exceeds the limit");
  EXPECT_ERROR(le64(~uint64_t{0}) + "{}", "exceeds the limit");
  EXPECT_ERROR(le64(1000) + "{}", "runs past the end of the file");
  EXPECT_NE(
      error_of(le64(1000) + "{}", false).find("truncated: expected 1008 bytes of header, got 10"),
      std::string::npos);
  SafetensorsLimits small;
  small.max_header_bytes = 16;
  std::string file = write_file({{"a", "U8", {1}, "x"}});
  EXPECT_NE(error_of(file, true, small).find("exceeds the limit of 16 bytes"), std::string::npos);
}

TEST(Safetensors, RejectsBadJson) {
  EXPECT_ERROR(raw_file(R"({"a": {"dtype": "F32",)"), "not valid JSON");
  EXPECT_ERROR(raw_file(R"({"a" {}})"), "not valid JSON");
  EXPECT_ERROR(raw_file(std::string("{}\0junk", 6)),
               "NUL byte at offset 2");               // would end the parse early
  EXPECT_ERROR(raw_file("{} {}"), "not valid JSON");  // a second value, not padding
  EXPECT_ERROR(raw_file(std::string("{}\0\0", 4)), "not valid JSON");  // NUL is not padding
  EXPECT_ERROR(raw_file("{\"\xff\":1}"), "not valid JSON");            // ill-formed UTF-8
  EXPECT_ERROR(raw_file("[1, 2]"), "not a JSON object");
  EXPECT_ERROR(raw_file("\"text\""), "not a JSON object");
  EXPECT_ERROR(raw_file(" {}"), "must start with '{'");
  EXPECT_ERROR(raw_file(R"({"a": 5})"), "entry 'a' is a number, not an object");
  EXPECT_ERROR(raw_file(R"({"a": [1]})"), "entry 'a' is an array, not an object");
}

TEST(Safetensors, RejectsMissingOrMistypedFields) {
  EXPECT_ERROR(raw_file(R"({"a":{"shape":[1],"data_offsets":[0,1]}})", "x"),
               "tensor 'a' is missing \"dtype\"");
  EXPECT_ERROR(raw_file(R"({"a":{"dtype":"U8","data_offsets":[0,1]}})", "x"),
               "tensor 'a' is missing \"shape\"");
  EXPECT_ERROR(raw_file(R"({"a":{"dtype":"U8","shape":[1]}})", "x"),
               "tensor 'a' is missing \"data_offsets\"");
  EXPECT_ERROR(raw_file(R"({"a":{"dtype":1,"shape":[1],"data_offsets":[0,1]}})", "x"),
               "dtype is a number");
  EXPECT_ERROR(raw_file(R"({"a":{"dtype":"U8","shape":1,"data_offsets":[0,1]}})", "x"),
               "shape is a number, not an array");
  EXPECT_ERROR(raw_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":{}}})", "x"),
               "data_offsets is an object");
  EXPECT_ERROR(raw_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", "x"),
               "must be [begin, end]");
  EXPECT_ERROR(raw_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}})", "x"),
               "must be [begin, end]");
  EXPECT_ERROR(raw_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,-1]}})", "x"),
               "negative value -1");
}

TEST(Safetensors, RejectsUnknownAndUnsupportedDtypes) {
  EXPECT_ERROR(raw_file("{" + entry("w", "F33", "[1]", 0, 4) + "}", "abcd"),
               "tensor 'w' has unknown dtype 'F33'");
  EXPECT_ERROR(raw_file("{" + entry("w", "f32", "[1]", 0, 4) + "}", "abcd"), "unknown dtype 'f32'");
}

// Every dtype of the format parses (old checkpoints carry I64 position_ids), with its item size
// checked; only float dtypes convert.
TEST(Safetensors, ParsesEveryFormatDtypeButConvertsOnlyFloats) {
  EXPECT_ERROR(raw_file("{" + entry("pos", "I64", "[2]", 0, 8) + "}", std::string(8, 'x')),
               "pos");  // 2 x 8 bytes claimed in 8
  const std::string ok =
      raw_file("{" + entry("pos", "I64", "[1]", 0, 8) + "}", std::string(8, 'x'));
  const Received r = read_whole(ok);
  ASSERT_EQ(r.tensors.size(), 1u);
  EXPECT_EQ(r.tensors[0].dtype, DType::I64);
  uint8_t bytes[8] = {};
  float out = 0;
  EXPECT_THROW(convert_to_f32(DType::I64, bytes, 1, &out), Error);
  EXPECT_THROW(convert_to_f32(DType::F64, bytes, 1, &out), Error);
}

TEST(Safetensors, RejectsBadShapes) {
  EXPECT_ERROR(raw_file("{" + entry("a", "U8", "[-1]", 0, 1) + "}", "x"),
               "tensor 'a': shape has negative value -1");
  EXPECT_ERROR(raw_file("{" + entry("a", "U8", "[1.5]", 0, 1) + "}", "x"),
               "1.5, which is not an integer");
  EXPECT_ERROR(raw_file("{" + entry("a", "U8", "[1.0]", 0, 1) + "}", "x"), "not an integer");
  EXPECT_ERROR(raw_file("{" + entry("a", "U8", "[1e0]", 0, 1) + "}", "x"), "not an integer");
  EXPECT_ERROR(raw_file("{" + entry("a", "U8", "[18446744073709551616]", 0, 1) + "}", "x"),
               "not an integer");
  EXPECT_ERROR(raw_file("{" + entry("a", "U8", "[\"1\"]", 0, 1) + "}", "x"),
               "shape has a string, not a non-negative integer");
  EXPECT_ERROR(raw_file("{" + entry("a", "U8", "[[1]]", 0, 1) + "}", "x"), "shape has an array");
  EXPECT_ERROR(raw_file("{" + entry("a", "U8", "[null]", 0, 1) + "}", "x"), "shape has null");
  SafetensorsLimits limits;
  limits.max_rank = 3;
  std::string deep = raw_file("{" + entry("a", "U8", "[1,1,1,1]", 0, 1) + "}", "x");
  EXPECT_NE(error_of(deep, true, limits).find("more than 3 dimensions"), std::string::npos);
}

TEST(Safetensors, RejectsSizeMismatchAndOverflow) {
  EXPECT_ERROR(raw_file("{" + entry("a", "F32", "[2,3]", 0, 20) + "}", std::string(20, 'x')),
               "tensor 'a': size mismatch: shape [2, 3] of F32 needs 24 bytes, data_offsets [0, "
               "20] hold 20");
  EXPECT_ERROR(raw_file("{" + entry("a", "F16", "[3]", 0, 3) + "}", "xyz"), "size mismatch");
  // 2^62 x 4 elements wraps to 0 in 64 bits; a naive product would then match [0, 0].
  EXPECT_ERROR(raw_file("{" + entry("a", "F32", "[4611686018427387904,4]", 0, 0) + "}"),
               "shape [4611686018427387904, 4] overflows 64-bit element count");
  // 2^62 elements fit, 2^62 x 4 bytes do not.
  EXPECT_ERROR(raw_file("{" + entry("a", "F32", "[4611686018427387904]", 0, 0) + "}"),
               "overflows 64-bit byte size");
  EXPECT_ERROR(raw_file("{" + entry("a", "U8", "[9223372036854775808,0]", 0, 0) + "}"),
               "overflows");
  EXPECT_ERROR(raw_file("{" + entry("a", "U8", "[4]", 8, 4) + "}", std::string(8, 'x')),
               "data_offsets [8, 4] end before they begin");
  SafetensorsLimits limits;
  limits.max_tensor_bytes = 3;
  std::string file = raw_file("{" + entry("a", "U8", "[4]", 0, 4) + "}", "abcd");
  EXPECT_NE(error_of(file, true, limits).find("tensor 'a' has 4 bytes, over the limit of 3"),
            std::string::npos);
}

TEST(Safetensors, RejectsBadLayouts) {
  EXPECT_ERROR(raw_file("{" + entry("a", "F32", "[4]", 0, 16) + "}", std::string(8, 'x')),
               "tensor 'a': data_offsets [0, 16] reach beyond the end of the file (the data "
               "section has 8 bytes)");
  EXPECT_ERROR(
      raw_file("{" + entry("a", "U8", "[4]", 0, 4) + "," + entry("b", "U8", "[4]", 2, 6) + "}",
               std::string(6, 'x')),
      "tensor 'b' at [2, 6] overlaps tensor 'a' at [0, 4]");
  EXPECT_ERROR(
      raw_file("{" + entry("a", "U8", "[2]", 0, 2) + "," + entry("b", "U8", "[2]", 0, 2) + "}",
               "xy"),
      "overlaps");
  EXPECT_ERROR(
      raw_file("{" + entry("a", "U8", "[2]", 0, 2) + "," + entry("b", "U8", "[2]", 4, 6) + "}",
               std::string(6, 'x')),
      "gap of 2 bytes before tensor 'b' at [4, 6]");
  EXPECT_ERROR(raw_file("{" + entry("a", "U8", "[2]", 2, 4) + "}", "xyzw"),
               "gap of 2 bytes before tensor 'a'");
}

TEST(Safetensors, RejectsDuplicates) {
  std::string a = entry("a", "U8", "[1]", 0, 1);
  EXPECT_ERROR(raw_file("{" + a + "," + a + "}", "x"), "duplicate entry 'a'");
  EXPECT_ERROR(
      raw_file(R"({"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "x"),
      "tensor 'a' has a duplicate \"dtype\" field");
  EXPECT_ERROR(raw_file(R"({"__metadata__":{"k":"1","k":"2"}})"),
               "duplicate key 'k' in __metadata__");
  EXPECT_ERROR(raw_file(R"({"__metadata__":{},"__metadata__":{}})"),
               "duplicate entry '__metadata__'");
}

TEST(Safetensors, RejectsBadMetadata) {
  EXPECT_ERROR(raw_file(R"({"__metadata__":{"k":1}})"),
               "__metadata__ value for 'k' is a number, not a string");
  EXPECT_ERROR(raw_file(R"({"__metadata__":{"k":{"x":"y"}}})"),
               "__metadata__ value for 'k' is an object");
  EXPECT_ERROR(raw_file(R"({"__metadata__":"k"})"),
               "entry '__metadata__' is a string, not an object");
  EXPECT_ERROR(raw_file(R"({"__metadata__":null})"), "entry '__metadata__' is null");
}

TEST(Safetensors, RejectsTooManyTensors) {
  SafetensorsLimits limits;
  limits.max_tensors = 1;
  std::string file = write_file({{"a", "U8", {1}, "x"}, {"b", "U8", {1}, "y"}}, {{"k", "v"}});
  EXPECT_NE(error_of(file, true, limits).find("more than 1 tensors"), std::string::npos);
}

TEST(Safetensors, RejectsTruncationAndTrailingData) {
  std::string file = write_file({{"a", "U8", {4}, "abcd"}, {"b", "F32", {2}, std::string(8, 'x')}});
  std::string cut = file.substr(0, file.size() - 1);
  std::string message = error_of(cut, false);
  EXPECT_NE(message.find("truncated: expected " + std::to_string(file.size()) + " bytes, got " +
                         std::to_string(cut.size()) + " (tensor 'b' is incomplete)"),
            std::string::npos)
      << message;
  // With the size known, the header already shows the data cannot fit.
  EXPECT_ERROR(cut, "reach beyond the end of the file");
  // Cut inside the header.
  EXPECT_NE(error_of(file.substr(0, 12), false).find("truncated: expected"), std::string::npos);

  EXPECT_ERROR(file + "junk", "trailing data: 4 bytes follow the last tensor");
  EXPECT_NE(error_of(file + "junk", false).find("trailing data after the last tensor"),
            std::string::npos);
  EXPECT_NE(error_of(raw_file("{}") + "x", false).find("trailing data"), std::string::npos);

  // A known size larger than what arrives: the stream reports truncation at finish().
  SafetensorsStream stream(nullptr, nullptr, file.size() + 4);
  EXPECT_THROW(stream.feed(as_bytes(file), file.size()), Error);  // header: 4 bytes unaccounted for
}

// ---- conversion ----

// Straightforward IEEE half decoding, independent of the library's bit tricks.
uint32_t f16_reference_bits(uint16_t h) {
  uint32_t sign = (h >> 15) & 1, exponent = (h >> 10) & 31, mantissa = h & 1023;
  float value;
  if (exponent == 31) {
    if (mantissa == 0) {
      value = INFINITY;
    } else {  // NaN: keep the payload in the top mantissa bits
      uint32_t bits = (sign << 31) | 0x7f800000u | (mantissa << 13);
      return bits;
    }
  } else if (exponent == 0) {
    value = std::ldexp(static_cast<float>(mantissa), -24);
  } else {
    value = std::ldexp(static_cast<float>(mantissa + 1024), static_cast<int>(exponent) - 25);
  }
  if (sign) value = -value;
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  return bits;
}

TEST(Safetensors, ConvertsEveryHalfExactly) {
  // All 65536 values, fed from an odd address so the loads are unaligned.
  std::vector<uint8_t> raw(1 + 2 * 65536);
  for (uint32_t i = 0; i < 65536; ++i) {
    raw[1 + 2 * i] = static_cast<uint8_t>(i);
    raw[2 + 2 * i] = static_cast<uint8_t>(i >> 8);
  }
  std::vector<float> out(65536);
  convert_to_f32(DType::F16, raw.data() + 1, 65536, out.data());
  int mismatches = 0;
  for (uint32_t i = 0; i < 65536; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &out[i], 4);
    if (bits != f16_reference_bits(static_cast<uint16_t>(i)) && ++mismatches < 5) {
      ADD_FAILURE() << std::hex << "half 0x" << i << " -> 0x" << bits << ", expected 0x"
                    << f16_reference_bits(static_cast<uint16_t>(i));
    }
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(out[0x0001], std::ldexp(1.0f, -24));     // smallest subnormal
  EXPECT_EQ(out[0x03ff], std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(out[0x7bff], 65504.0f);
  EXPECT_TRUE(std::isinf(out[0xfc00]) && out[0xfc00] < 0);
  EXPECT_TRUE(std::isnan(out[0x7e00]));
  EXPECT_TRUE(std::signbit(out[0x8000]));
}

TEST(Safetensors, ConvertsBf16AndF32Unaligned) {
  std::vector<uint16_t> bf16 = {0x0000, 0x8000, 0x3f80, 0x7f80, 0xff80, 0x7fc1, 0x0001, 0x4049};
  std::string raw = "?" + bytes_of(bf16);
  std::vector<float> out(bf16.size());
  convert_to_f32(DType::BF16, as_bytes(raw) + 1, bf16.size(), out.data());
  for (size_t i = 0; i < bf16.size(); ++i) {
    uint32_t bits;
    std::memcpy(&bits, &out[i], 4);
    EXPECT_EQ(bits, static_cast<uint32_t>(bf16[i]) << 16) << i;
  }
  std::vector<float> f32 = {1.0f, -0.0f, 1e-45f, NAN};
  std::string raw32 = "???" + bytes_of(f32);
  std::vector<float> out32(4);
  convert_to_f32(DType::F32, as_bytes(raw32) + 3, 4, out32.data());
  EXPECT_EQ(std::memcmp(out32.data(), f32.data(), 16), 0);
  convert_to_f32(DType::F16, nullptr, 0, nullptr);  // nothing to do
  EXPECT_THROW(convert_to_f32(DType::I32, as_bytes(raw32), 1, out32.data()), Error);
  EXPECT_THROW(convert_to_f32(DType::U8, as_bytes(raw32), 1, out32.data()), Error);
}

TEST(Safetensors, F16ConversionThroughput) {
  const size_t count = 1 << 22;
  std::vector<uint16_t> half(count);
  std::mt19937 rng(5);
  for (uint16_t& h : half) h = static_cast<uint16_t>(rng());
  std::vector<float> out(count);
  double best = 1e9;
  for (int rep = 0; rep < 5; ++rep) {
    auto start = std::chrono::steady_clock::now();
    convert_to_f32(DType::F16, reinterpret_cast<const uint8_t*>(half.data()), count, out.data());
    best = std::min(
        best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  uint32_t bits;
  std::memcpy(&bits, &out[count / 2], 4);
  EXPECT_EQ(bits, f16_reference_bits(half[count / 2]));
  test::record_figure("safetensors", "f16_to_f32_melem_per_s", count / best / 1e6);
}

// ---- files ----

TEST(Safetensors, ReadsFilesInChunks) {
  // Over 1 MB, so tensors straddle the reader's chunks.
  std::vector<float> big(400000);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<float>(i) * 0.5f;
  std::vector<Spec> specs = all_dtypes();
  specs.insert(specs.begin() + 1, {"big", "F32", {400, 1000}, bytes_of(big)});
  std::string file = write_file(specs);
  std::string path = ::testing::TempDir() + "/safetensors_test_big.safetensors";
  std::ofstream(path, std::ios::binary) << file;

  Received expected = read_whole(file);
  Received got;
  read_safetensors_file(
      path, [&](const SafetensorsHeader& h) { got.header = h; },
      [&](const TensorInfo& info, const uint8_t* data) {
        got.tensors.push_back(info);
        got.data.emplace_back(reinterpret_cast<const char*>(data), info.byte_size());
      });
  EXPECT_EQ(signature(got), signature(expected));

  std::ofstream(path, std::ios::binary | std::ios::app) << "tail";
  try {
    read_safetensors_file(path, nullptr, nullptr);
    FAIL() << "trailing bytes accepted";
  } catch (const Error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("trailing data: 4 bytes"), std::string::npos) << message;
  }
  std::remove(path.c_str());
}

TEST(Safetensors, MissingFileNamesThePath) {
  std::string path = ::testing::TempDir() + "/no-such-dir/weights.safetensors";
  try {
    read_safetensors_file(path, nullptr, nullptr);
    FAIL() << "missing file accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(Safetensors, ReadsTheReferencePackagesFile) {
  // Written by safetensors.torch.save_file (tools/make_fuzz_seeds.py) with the values listed in
  // reference.json.
  nlohmann::json expected =
      nlohmann::json::parse(test::read_file(test::fixture_path("safetensors/reference.json")));
  ASSERT_TRUE(expected.is_object());
  SafetensorsHeader header;
  std::vector<TensorInfo> order;
  size_t checked = 0;
  read_safetensors_file(
      test::fixture_path("safetensors/reference.safetensors"),
      [&](const SafetensorsHeader& h) { header = h; },
      [&](const TensorInfo& info, const uint8_t* data) {
        order.push_back(info);
        const nlohmann::json& want = expected["tensors"][info.name];
        ASSERT_TRUE(want.is_object()) << info.name;
        EXPECT_EQ(dtype_name(info.dtype), want["dtype"].get<std::string>()) << info.name;
        EXPECT_EQ(info.shape, want["shape"].get<std::vector<int64_t>>()) << info.name;
        size_t count = static_cast<size_t>(info.element_count());
        if (want.contains("f32_bits")) {
          std::vector<float> values(count);
          convert_to_f32(info.dtype, data, count, values.data());
          std::vector<uint32_t> bits(count);
          if (count) std::memcpy(bits.data(), values.data(), count * 4);
          EXPECT_EQ(bits, want["f32_bits"].get<std::vector<uint32_t>>()) << info.name;
        } else {
          std::vector<int64_t> ints(count);
          for (size_t i = 0; i < count; ++i) {
            if (info.dtype == DType::I8) ints[i] = static_cast<int8_t>(data[i]);
            if (info.dtype == DType::U8) ints[i] = data[i];
            if (info.dtype == DType::I32) {
              int32_t v;
              std::memcpy(&v, data + 4 * i, 4);
              ints[i] = v;
            }
          }
          EXPECT_EQ(ints, want["ints"].get<std::vector<int64_t>>()) << info.name;
        }
        ++checked;
      });
  EXPECT_EQ(checked, expected["tensors"].size());
  EXPECT_EQ(header.tensors.size(), expected["tensors"].size());
  using Metadata = std::map<std::string, std::string>;
  EXPECT_EQ(header.metadata, expected["metadata"].get<Metadata>());
  EXPECT_EQ(header.header_size % 8, 0u);  // the writer pads its JSON with spaces
  for (size_t i = 1; i < order.size(); ++i) EXPECT_LE(order[i - 1].end, order[i].begin);
}

}  // namespace
}  // namespace clip

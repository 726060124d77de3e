// libFuzzer target for the safetensors reader. Each input is read four ways: whole and with the
// size unknown, in pseudo-random chunks (sizes drawn from a hash of the input, so a crash
// reproduces), whole with the size known, and through window()/commit() with the size known
// (pseudo-random reads, some large tensors placed in buffers of the caller's, process_ready()
// between every other read and its commit). The first two must agree exactly; the third may only
// be stricter; the fourth must accept what the third accepts, with the same tensors (large ones
// may come after smaller ones that follow them). Anything but a clip::Error escaping, or a broken
// invariant, is a crash.
//
// Build and run (clang with compiler-rt):
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
//     -Isrc tests/fuzz/safetensors_fuzz.cpp src/safetensors.cpp src/json-reader.cpp \
//     -o build-st/safetensors_fuzz
//   .venv/bin/python tools/make_fuzz_seeds.py build-st/fixtures
//   mkdir -p build-st/fuzz-corpus
//   build-st/safetensors_fuzz -max_total_time=30 build-st/fuzz-corpus
//   build-st/fixtures/fuzz/safetensors
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common.h"
#include "safetensors.h"

namespace {

using clip::DType;
using clip::SafetensorsHeader;
using clip::SafetensorsStream;
using clip::TensorInfo;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

uint64_t fnv1a(const uint8_t* data, size_t size, uint64_t hash = 0xcbf29ce484222325ull) {
  for (size_t i = 0; i < size; ++i) hash = (hash ^ data[i]) * 0x100000001b3ull;
  return hash;
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

struct Outcome {
  bool ok = false;
  std::string error;
  std::string events;  // header summary, then name and content hash of each tensor
};

// The events with the tensors' in sorted order: what a windowed read must match.
std::string sorted_events(const std::string& events) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t bar; (bar = events.find('|', start)) != std::string::npos; start = bar + 1) {
    parts.push_back(events.substr(start, bar - start));
  }
  parts.push_back(events.substr(start));
  std::sort(parts.begin() + 1, parts.end());
  std::string joined = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) joined += "|" + parts[i];
  return joined;
}

Outcome read(const uint8_t* data, size_t size, uint64_t file_size, uint64_t chunk_seed,
             bool windowed = false) {
  Outcome out;
  SafetensorsStream* self = nullptr;
  bool have_header = false;
  uint64_t bound = 0;             // the most the stream may buffer: the JSON or the largest tensor
  uint64_t last_end[2] = {0, 0};  // fed: in [0], all tensors; windowed: small, large
  std::vector<float> floats;
  auto on_header = [&](const SafetensorsHeader& h) {
    check(!have_header);
    have_header = true;
    bound = h.header_size - 8;
    for (const TensorInfo& t : h.tensors) {
      check(t.begin <= t.end && t.end <= h.data_size);
      bound = std::max(bound, t.byte_size());
    }
    out.events += "H" + std::to_string(h.header_size) + "/" + std::to_string(h.data_size) + "/" +
                  std::to_string(h.tensors.size()) + "/" + std::to_string(h.metadata.size());
  };
  auto on_tensor = [&](const TensorInfo& t, const uint8_t* bytes) {
    check(have_header && bytes != nullptr);
    uint64_t& end = last_end[windowed && t.byte_size() >= SafetensorsStream::kDirectBytes];
    check(windowed ? t.begin >= end : t.begin == end);  // fed: contiguous and in order
    end = t.end;
    check(static_cast<uint64_t>(t.element_count()) * clip::dtype_size(t.dtype) == t.byte_size());
    check(self->buffer_capacity() <= (windowed ? 2 : 1) * bound);
    uint64_t hash = fnv1a(bytes, t.byte_size());
    if (t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16) {
      floats.resize(static_cast<size_t>(t.element_count()));
      clip::convert_to_f32(t.dtype, bytes, floats.size(), floats.data());
      hash = fnv1a(reinterpret_cast<const uint8_t*>(floats.data()), floats.size() * 4, hash);
    }
    out.events += "|" + t.name + ":" + std::to_string(hash);
  };
  SafetensorsStream stream(on_header, on_tensor, file_size);
  self = &stream;
  std::vector<std::vector<uint8_t>> placed;
  if (windowed) {
    stream.set_placement([&](const TensorInfo& t) -> uint8_t* {
      if (fnv1a(reinterpret_cast<const uint8_t*>(t.name.data()), t.name.size()) & 1) return nullptr;
      placed.emplace_back(static_cast<size_t>(t.byte_size()));
      return placed.back().data();
    });
  }
  try {
    size_t pos = 0;
    for (int i = 0; windowed && pos < size; ++i) {
      const uint64_t r = splitmix64(chunk_seed);
      const SafetensorsStream::Window window = stream.window(1 + (r >> 8) % 8192);
      check(window.size > 0);
      const size_t n = std::min<size_t>({window.size, size - pos, 1 + (r >> 24) % 100000});
      std::memcpy(window.data, data + pos, n);
      if (i % 2) stream.process_ready();
      stream.commit(n);
      pos += n;
    }
    while (pos < size) {
      size_t n = size - pos;
      if (chunk_seed != 0) {
        uint64_t r = splitmix64(chunk_seed);
        n = std::min<size_t>(n, 1 + (r >> 8) % ((r & 1) ? 16 : 4096));
      }
      stream.feed(data + pos, n);
      pos += n;
    }
    stream.finish();
    check(stream.bytes_consumed() == size);
    out.ok = true;
  } catch (const clip::Error& e) {
    out.error = e.what();
    // A failed stream stays failed.
    bool refused = false;
    try {
      stream.feed(data, size);
    } catch (const clip::Error&) {
      refused = true;
    }
    check(refused);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Outcome whole = read(data, size, 0, 0);
  Outcome chunked = read(data, size, 0, fnv1a(data, size) | 1);
  check(whole.ok == chunked.ok && whole.error == chunked.error && whole.events == chunked.events);
  if (size > 0) {
    Outcome sized = read(data, size, size, 0);
    // Knowing the size can only add checks; what it accepts, the open-ended read accepts alike.
    check(!sized.ok || (whole.ok && sized.events == whole.events));
    Outcome windowed = read(data, size, size, fnv1a(data, size) | 1, true);
    check(windowed.ok == sized.ok);
    check(!sized.ok || sorted_events(windowed.events) == sorted_events(sized.events));
  }
  return 0;
}

// Helpers shared by the native tests: where fixtures live, and how measured figures are reported.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "common.h"

namespace clip::test {

// Fixtures are produced by the reference scripts (scripts/make-fixtures.sh). A missing fixture is
// a failure, never a skip.
inline std::string fixture_path(const std::string& relative) {
  const char* root = std::getenv("CLIP_FIXTURES");
  std::string path = std::string(root ? root : "build/native/fixtures") + "/" + relative;
  if (!std::ifstream(path).good()) {
    ADD_FAILURE() << "fixture missing: " << path << " (run scripts/make-fixtures.sh)";
  }
  return path;
}

// Runs `body`, expecting a clip::Error whose message contains `needle`.
template <typename Body>
void expect_error(Body body, const std::string& needle) {
  try {
    body();
    ADD_FAILURE() << "expected clip::Error containing '" << needle << "'";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find(needle), std::string::npos)
        << "message: " << error.what() << "\nexpected to contain: " << needle;
  }
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Prints "GROUP name=value" and appends it to $CLIP_FIGURES_FILE, which the test command
// prints at the end so a reader sees every measured figure.
inline void record_figure(const std::string& group, const std::string& name,
                          const std::string& value) {
  std::string line = group + " " + name + "=" + value;
  std::printf("%s\n", line.c_str());
  if (const char* file = std::getenv("CLIP_FIGURES_FILE")) {
    std::ofstream(file, std::ios::app) << line << "\n";
  }
}

inline void record_figure(const std::string& group, const std::string& name, double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.10g", value);
  record_figure(group, name, std::string(text));
}

}  // namespace clip::test

#include <cstdint>
#include <cstring>
#include <vector>

#include "safetensors.h"

namespace clip::test {

struct OwnedTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// All tensors of a safetensors file, in file order.
inline std::vector<OwnedTensor> read_all_tensors(const std::string& path) {
  std::vector<OwnedTensor> tensors;
  read_safetensors_file(
      path, [](const SafetensorsHeader&) {},
      [&](const TensorInfo& info, const uint8_t* data) {
        tensors.push_back({info.name, info.dtype, info.shape,
                           std::vector<uint8_t>(data, data + (info.end - info.begin))});
      });
  return tensors;
}

// One F32 tensor of a safetensors file, by name (a test failure when absent).
inline std::vector<float> read_f32_tensor(const std::string& path, const std::string& name) {
  for (const OwnedTensor& t : read_all_tensors(path)) {
    if (t.name == name) {
      std::vector<float> values(t.bytes.size() / sizeof(float));
      std::memcpy(values.data(), t.bytes.data(), values.size() * sizeof(float));
      return values;
    }
  }
  ADD_FAILURE() << path << " has no tensor " << name;
  return {};
}

// Serializes tensors (in the given order) into a safetensors file image.
inline std::vector<uint8_t> write_safetensors(const std::vector<OwnedTensor>& tensors) {
  std::string json = "{";
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const OwnedTensor& t = tensors[i];
    json +=
        (i ? ",\"" : "\"") + t.name + "\":{\"dtype\":\"" + dtype_name(t.dtype) + "\",\"shape\":[";
    for (size_t d = 0; d < t.shape.size(); ++d) json += (d ? "," : "") + std::to_string(t.shape[d]);
    json += "],\"data_offsets\":[" + std::to_string(offset) + "," +
            std::to_string(offset + t.bytes.size()) + "]}";
    offset += t.bytes.size();
  }
  json += "}";
  while (json.size() % 8) json += ' ';
  std::vector<uint8_t> file(8 + json.size() + offset);
  const uint64_t n = json.size();
  for (int b = 0; b < 8; ++b) file[b] = static_cast<uint8_t>(n >> (8 * b));
  std::memcpy(file.data() + 8, json.data(), json.size());
  size_t at = 8 + json.size();
  for (const OwnedTensor& t : tensors) {
    if (!t.bytes.empty()) std::memcpy(file.data() + at, t.bytes.data(), t.bytes.size());
    at += t.bytes.size();
  }
  return file;
}

}  // namespace clip::test

// Helpers shared by the native tests: where fixtures live, and how measured figures are reported.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace clip::test {

// Fixtures are produced by the reference scripts (scripts/make-fixtures.sh). A missing fixture is
// a failure, never a skip.
inline std::string fixture_path(const std::string& relative) {
  const char* root = std::getenv("CLIP_FIXTURES");
  std::string path = std::string(root ? root : "build/fixtures") + "/" + relative;
  if (!std::ifstream(path).good()) {
    ADD_FAILURE() << "fixture missing: " << path << " (run scripts/make-fixtures.sh)";
  }
  return path;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Prints "GROUP name=value" and appends it to $CLIP_FIGURES_FILE, which the test command
// prints at the end so a reader sees every measured figure.
inline void record_figure(const std::string& group, const std::string& name, const std::string& value) {
  std::string line = group + " " + name + "=" + value;
  std::printf("%s\n", line.c_str());
  if (const char* file = std::getenv("CLIP_FIGURES_FILE")) {
    std::ofstream(file, std::ios::app) << line << "\n";
  }
}

inline void record_figure(const std::string& group, const std::string& name, double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.8g", value);
  record_figure(group, name, std::string(text));
}

}  // namespace clip::test

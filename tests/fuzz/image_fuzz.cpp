// libFuzzer target for image decoding and preprocessing. Each input is decoded (small limits, so
// a run stays fast and no input can allocate much); a decoded image is then preprocessed and
// resized to sizes drawn from the input, and invariants are checked: every tensor value is one
// of the 256 normalized levels' range, and a resized region equals the same rectangle of the
// full resize. The input is also taken as raw pixels. Anything but a clip::Error escaping, or a
// broken invariant, is a crash.
//
// Build and run (clang with compiler-rt):
//   clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
//     -Isrc tests/fuzz/image_fuzz.cpp src/image*.cpp -o build-img/image_fuzz
//   mkdir -p build-img/fuzz-corpus
//   build-img/image_fuzz -max_total_time=20 -max_len=65536 build-img/fuzz-corpus \
//     build-img/fixtures/preprocess/images
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "common.h"
#include "image.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

uint32_t hash_bytes(const uint8_t* data, size_t size) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 16777619u;
  return h;
}

void exercise(const clip::RgbImage& image, uint32_t seed) {
  check(image.width > 0 && image.height > 0);
  check(image.pixels.size() == static_cast<size_t>(image.width) * image.height * 3);

  clip::PreprocessConfig config;
  config.image_size = 1 + static_cast<int>(seed % 48);
  const std::vector<float> tensor = clip::preprocess_image(image, config);
  check(tensor.size() == 3u * config.image_size * config.image_size);
  const size_t plane = static_cast<size_t>(config.image_size) * config.image_size;
  for (size_t i = 0; i < tensor.size(); ++i) {
    const int c = static_cast<int>(i / plane);
    const float low = (0.0f - config.mean[c]) / config.std[c];
    const float high = (1.0f - config.mean[c]) / config.std[c];
    check(std::isfinite(tensor[i]) && tensor[i] >= low && tensor[i] <= high);
  }

  const int width = 1 + static_cast<int>((seed >> 8) % 40);
  const int height = 1 + static_cast<int>((seed >> 16) % 40);
  const clip::RgbImage full = clip::resize_bicubic(image, width, height);
  check(full.width == width && full.height == height);
  const clip::PixelRect region{width / 3, height / 2, width - width / 3, height - height / 2};
  const clip::RgbImage part = clip::resize_bicubic_region(image, width, height, region);
  for (int y = 0; y < region.height; ++y) {
    for (int x = 0; x < region.width * 3; ++x) {
      const size_t at_full = (static_cast<size_t>(region.y + y) * width + region.x) * 3 + x;
      check(part.pixels[static_cast<size_t>(y) * region.width * 3 + x] == full.pixels[at_full]);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  clip::ImageLimits limits;
  limits.max_side = 2048;
  limits.max_pixels = 1 << 20;
  const uint32_t seed = hash_bytes(data, size);

  try {
    exercise(clip::decode_image(data, size, limits), seed);
  } catch (const clip::Error&) {
  }

  // The same bytes as a raw canvas: width, height and channels from the first three bytes.
  if (size >= 3) {
    const int channels = data[0] % 5;
    const int width = data[1] % 64;
    const int height = data[2] % 64;
    const size_t needed = static_cast<size_t>(width) * height * (channels == 0 ? 1 : channels);
    if (size - 3 >= needed) {
      try {
        exercise(clip::image_from_pixels(data + 3, width, height, channels, limits), seed);
      } catch (const clip::Error&) {
      }
    }
  }
  return 0;
}

// Image decoding and CLIP preprocessing, equal to the reference pipeline
// (PIL convert('RGB'), torchvision Resize(size, BICUBIC) + CenterCrop(size), ToTensor, Normalize).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace clip {

// 8-bit interleaved RGB.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // [height, width, 3]
};

struct ImageLimits {
  int max_side = 16384;
  int64_t max_pixels = 64ll << 20;  // checked before any pixel buffer is allocated
};

struct PreprocessConfig {
  int image_size = 224;
  std::array<float, 3> mean = {0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std = {0.26862954f, 0.26130258f, 0.27577711f};
};

// Decodes JPEG, PNG, BMP, GIF (first frame) and converts to RGB the way PIL's convert('RGB')
// does (gray replicated, alpha dropped, palette expanded). Throws clip::Error.
RgbImage decode_image(const uint8_t* bytes, size_t size, const ImageLimits& limits = {});

// Raw pixels as a browser canvas gives them: channels 1 (gray), 3 (RGB) or 4 (RGBA, alpha dropped).
RgbImage image_from_pixels(const uint8_t* data, int width, int height, int channels,
                           const ImageLimits& limits = {});

// Resize shorter side to image_size (PIL antialiased bicubic), center crop, normalize.
// Returns a [3, image_size, image_size] float tensor (CHW).
std::vector<float> preprocess_image(const RgbImage& image, const PreprocessConfig& config);

}  // namespace clip

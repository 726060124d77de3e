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
  // The decoder's own buffers, estimated from the header: a GIF's canvases take 9 bytes per
  // pixel and a 16-bit RGBA PNG's 16, so the pixel limit alone would let a tiny file claim ~1 GB,
  // which a WebAssembly heap never gives back.
  int64_t max_decode_bytes = 512ll << 20;
};

// The largest input side a model may declare: far above any CLIP (224-448), and small enough that
// every size derived from it (3 * side^2 floats) fits 32-bit sizes, as in wasm32.
constexpr int kMaxModelImageSize = 4096;

struct PreprocessConfig {
  int image_size = 224;
  std::array<float, 3> mean = {0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std = {0.26862954f, 0.26130258f, 0.27577711f};
};

// Decodes JPEG, PNG, BMP, GIF (first frame) and converts to RGB the way PIL's convert('RGB')
// does: gray replicated, alpha dropped (not composited), palette expanded. The dimensions in the
// header are checked against `limits` before anything is decoded. Throws clip::Error naming the
// decoder's reason for corrupt, truncated, empty or unsupported input.
//
// JPEG pixels equal Pillow's (libjpeg-turbo with its defaults: ISLOW IDCT, fancy upsampling)
// for gray and YCbCr images with 4:4:4, 4:2:2 or 4:2:0 chroma, baseline or progressive (the
// parity test covers each).
// Known differences from Pillow, by design:
// - 16-bit PNGs keep the high byte of each sample. Pillow does the same for RGB/RGBA/gray+alpha,
//   but opens 16-bit gray as mode "I" and clips it to 255 on convert('RGB'), which turns most
//   of such an image white; scaling is the useful reading.
// - Rarer JPEGs go through stb_image's own conversions (CMYK/YCCK, other chroma layouts) and may
//   differ by a few levels; JPEGs that rely on default Huffman tables (Motion-JPEG frames) are
//   refused.
// - GIF: transparent pixels of the first frame come out black (stb_image), where Pillow gives
//   the palette colour behind the transparent index.
RgbImage decode_image(const uint8_t* bytes, size_t size, const ImageLimits& limits = {});

// Raw pixels as a browser canvas gives them: channels 1 (gray), 3 (RGB) or 4 (RGBA, alpha
// dropped), rows packed without padding.
RgbImage image_from_pixels(const uint8_t* data, int width, int height, int channels,
                           const ImageLimits& limits = {});

// A rectangle of pixels: columns [x, x + width), rows [y, y + height).
struct PixelRect {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
};

// Pillow 9.4's Image.resize((width, height), Image.BICUBIC) on an RGB image, bit for bit, but
// only the pixels inside `region` of the resized image are computed and returned (each output
// pixel depends only on its own filter windows, so this equals resizing then cropping).
RgbImage resize_bicubic_region(const RgbImage& image, int width, int height,
                               const PixelRect& region);

inline RgbImage resize_bicubic(const RgbImage& image, int width, int height) {
  return resize_bicubic_region(image, width, height, PixelRect{0, 0, width, height});
}

// torchvision's Resize(size) output for an image: the shorter side becomes `size`, the longer
// one int(size * long / short). Returns {width, height}.
std::array<int, 2> shorter_side_resized_size(int width, int height, int size);

// Resize shorter side to image_size (PIL antialiased bicubic), center crop, normalize.
// Returns a [3, image_size, image_size] float tensor (CHW).
std::vector<float> preprocess_image(const RgbImage& image, const PreprocessConfig& config);

}  // namespace clip

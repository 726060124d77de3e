// Image decoding (stb_image, Debian's libstb-dev) and raw-pixel intake, both ending in 8-bit RGB
// the way PIL's convert('RGB') produces it.
#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>

#include "common.h"
#include "image.h"

// stb_image is compiled here, once: only the formats a browser user drops on a page, bytes from
// memory only. Its JPEG pixel kernels are replaced by libjpeg-exact ones (image-jpeg-kernels.h):
// each function-like macro below renames stb's own definition (the only place the name is
// followed by a parenthesis), while stb's kernel table keeps the plain name and so takes ours.
// STBI_NO_SIMD keeps stb from swapping in its SSE2 versions of the same kernels.
#include "image-jpeg-kernels.h"
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_GIF
#define STBI_NO_STDIO
#define STBI_NO_SIMD
#define stbi__idct_block(...) stbi__idct_block_replaced(__VA_ARGS__)
#define stbi__resample_row_hv_2(...) stbi__resample_row_hv_2_replaced(__VA_ARGS__)
#define stbi__resample_row_h_2(...) stbi__resample_row_h_2_replaced(__VA_ARGS__)
#define stbi__resample_row_v_2(...) stbi__resample_row_v_2_replaced(__VA_ARGS__)
#define stbi__YCbCr_to_RGB_row(...) stbi__YCbCr_to_RGB_row_replaced(__VA_ARGS__)
// stb's renamed originals are left unused.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop
#undef stbi__idct_block
#undef stbi__resample_row_hv_2
#undef stbi__resample_row_h_2
#undef stbi__resample_row_v_2
#undef stbi__YCbCr_to_RGB_row

namespace clip {
namespace {

enum class Format { kUnknown, kPng, kJpeg, kGif, kBmp };

// The container, from its signature (the same tests stb applies).
Format sniff_format(const uint8_t* bytes, size_t size) {
  if (size >= 8 && std::memcmp(bytes, "\x89PNG\r\n\x1a\n", 8) == 0) return Format::kPng;
  if (size >= 2 && bytes[0] == 0xFF && bytes[1] == 0xD8) return Format::kJpeg;
  if (size >= 6 && (std::memcmp(bytes, "GIF87a", 6) == 0 || std::memcmp(bytes, "GIF89a", 6) == 0)) {
    return Format::kGif;
  }
  if (size >= 2 && bytes[0] == 'B' && bytes[1] == 'M') return Format::kBmp;
  return Format::kUnknown;
}

const char* format_name(Format format) {
  switch (format) {
    case Format::kPng:
      return "PNG";
    case Format::kJpeg:
      return "JPEG";
    case Format::kGif:
      return "GIF";
    case Format::kBmp:
      return "BMP";
    case Format::kUnknown:
      break;
  }
  return "image";
}

// Reads the header of the sniffed format only. (stbi_info_from_memory tries every format in
// turn, so its failure reason is always the last format's "unknown image type".)
bool read_header(Format format, const uint8_t* bytes, int length, int* width, int* height) {
  stbi__context context;
  stbi__start_mem(&context, bytes, length);
  int channels = 0;
  switch (format) {
    case Format::kPng:
      return stbi__png_info(&context, width, height, &channels) != 0;
    case Format::kJpeg:
      return stbi__jpeg_info(&context, width, height, &channels) != 0;
    case Format::kGif:
      return stbi__gif_info(&context, width, height, &channels) != 0;
    case Format::kBmp:
      return stbi__bmp_info(&context, width, height, &channels) != 0;
    case Format::kUnknown:
      break;
  }
  return false;
}

// Feeds stb from memory through its callback interface, to notice truncation: stb's GIF and
// BMP decoders read zeros past the end of the data and report success.
struct ByteReader {
  const uint8_t* data;
  size_t size;
  size_t position = 0;
  bool read_past_end = false;

  static int read(void* user, char* out, int count) {
    auto* self = static_cast<ByteReader*>(user);
    const size_t left = self->size - self->position;
    if (count > 0 && left == 0) self->read_past_end = true;
    const size_t n = std::min(left, static_cast<size_t>(std::max(count, 0)));
    std::memcpy(out, self->data + self->position, n);
    self->position += n;
    return static_cast<int>(n);
  }
  static void skip(void* user, int count) {
    auto* self = static_cast<ByteReader*>(user);
    if (count <= 0) return;
    const size_t left = self->size - self->position;
    if (static_cast<size_t>(count) > left) self->read_past_end = true;
    self->position += std::min(left, static_cast<size_t>(count));
  }
  static int eof(void* user) {
    auto* self = static_cast<ByteReader*>(user);
    return self->position >= self->size;
  }
};

int64_t read_be32(const uint8_t* p) {
  return (int64_t{p[0]} << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
}

void check_dimensions(const char* where, int64_t width, int64_t height, const ImageLimits& limits) {
  if (width <= 0 || height <= 0) fail(where, ": zero-size image (", width, "x", height, ")");
  if (width > limits.max_side || height > limits.max_side) {
    fail(where, ": image ", width, "x", height, " exceeds the maximum side of ", limits.max_side,
         " pixels");
  }
  if (width * height > limits.max_pixels) {
    fail(where, ": image ", width, "x", height, " has ", width * height,
         " pixels, more than the limit of ", limits.max_pixels);
  }
}

struct StbFree {
  void operator()(stbi_uc* data) const { stbi_image_free(data); }
};

}  // namespace

RgbImage decode_image(const uint8_t* bytes, size_t size, const ImageLimits& limits) {
  if (bytes == nullptr || size == 0) fail("decode_image: empty input (0 bytes)");
  if (size > static_cast<size_t>(INT_MAX)) {
    fail("decode_image: input of ", size, " bytes is larger than the decoder accepts");
  }
  const Format format = sniff_format(bytes, size);
  if (format == Format::kUnknown) {
    fail("decode_image: not a JPEG, PNG, BMP or GIF file (unrecognized signature)");
  }
  const char* name = format_name(format);
  const int length = static_cast<int>(size);

  // Header only: the dimensions are judged before the decoder allocates anything for pixels.
  // A PNG's IHDR sits at a fixed place; it is read here first because stb's PNG header reader
  // has its own, vaguer size cap ("too large") that would otherwise speak first.
  if (format == Format::kPng && size >= 24 && std::memcmp(bytes + 12, "IHDR", 4) == 0) {
    check_dimensions("decode_image", read_be32(bytes + 16), read_be32(bytes + 20), limits);
  }
  int width = 0, height = 0;
  if (!read_header(format, bytes, length, &width, &height)) {
    fail("decode_image: corrupt ", name, " header (", stbi_failure_reason(), ")");
  }
  check_dimensions("decode_image", width, height, limits);

  // 3 channels requested: stb replicates gray, drops alpha and expands palettes, as
  // convert('RGB') does; 16-bit samples are reduced to their high byte.
  ByteReader reader{bytes, size};
  const stbi_io_callbacks callbacks{&ByteReader::read, &ByteReader::skip, &ByteReader::eof};
  int decoded_width = 0, decoded_height = 0, channels = 0;
  std::unique_ptr<stbi_uc, StbFree> data(
      stbi_load_from_callbacks(&callbacks, &reader, &decoded_width, &decoded_height, &channels, 3));
  if (!data) {
    fail("decode_image: cannot decode ", width, "x", height, " ", name, " (", stbi_failure_reason(),
         reader.read_past_end ? ", data truncated" : "", ")");
  }
  if (reader.read_past_end) {
    fail("decode_image: ", width, "x", height, " ", name, " is truncated (data ends after ", size,
         " bytes)");
  }
  if (decoded_width != width || decoded_height != height) {
    fail("decode_image: ", name, " header says ", width, "x", height, " but decoding gave ",
         decoded_width, "x", decoded_height);
  }
  RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels.assign(data.get(), data.get() + static_cast<size_t>(width) * height * 3);
  return image;
}

RgbImage image_from_pixels(const uint8_t* data, int width, int height, int channels,
                           const ImageLimits& limits) {
  if (channels != 1 && channels != 3 && channels != 4) {
    fail("image_from_pixels: ", channels,
         " channels per pixel; expected 1 (gray), 3 (RGB) or 4 (RGBA)");
  }
  check_dimensions("image_from_pixels", width, height, limits);
  if (data == nullptr)
    fail("image_from_pixels: no pixel data for a ", width, "x", height, " image");

  RgbImage image;
  image.width = width;
  image.height = height;
  const size_t count = static_cast<size_t>(width) * height;
  image.pixels.resize(count * 3);
  uint8_t* out = image.pixels.data();
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* pixel = data + i * channels;
    if (channels == 1) {
      out[3 * i + 0] = out[3 * i + 1] = out[3 * i + 2] = pixel[0];
    } else {
      out[3 * i + 0] = pixel[0];
      out[3 * i + 1] = pixel[1];
      out[3 * i + 2] = pixel[2];
    }
  }
  return image;
}

}  // namespace clip

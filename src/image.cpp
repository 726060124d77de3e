// Image decoding (stb_image, Debian's libstb-dev) and raw-pixel intake, both ending in 8-bit RGB
// the way PIL's convert('RGB') produces it.
#include <algorithm>
#include <climits>
#include <cstdlib>
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
// Zeroed allocations: nothing a corrupt file leaves undecoded can expose old heap contents, and
// the decode of a given input is deterministic. Asserts off: corrupt input must never abort.
#define STBI_MALLOC(size) std::calloc(1, size)
#define STBI_REALLOC(pointer, size) std::realloc(pointer, size)
#define STBI_FREE(pointer) std::free(pointer)
#define STBI_ASSERT(condition) ((void)0)
#define stbi__idct_block(...) stbi__idct_block_replaced(__VA_ARGS__)
#define stbi__resample_row_hv_2(...) stbi__resample_row_hv_2_replaced(__VA_ARGS__)
#define stbi__resample_row_h_2(...) stbi__resample_row_h_2_replaced(__VA_ARGS__)
#define stbi__resample_row_v_2(...) stbi__resample_row_v_2_replaced(__VA_ARGS__)
#define stbi__YCbCr_to_RGB_row(...) stbi__YCbCr_to_RGB_row_replaced(__VA_ARGS__)
// stb 2.27's JPEG bit reader refills with `byte << (24 - code_bits)`. Once a marker has ended the
// entropy-coded data it refills with zero bytes, and corrupt data that consumed bits it did not
// have leaves code_bits negative: the shift of 0 by 32 or more is undefined behaviour (found by
// fuzzing under UBSan). Every refill is routed through clip_stb_refill, which in that state does
// what stb's loop does (count 8 more zero bits at a time, the buffer unchanged) without the
// shift, and otherwise runs stb's own refill, renamed. The macro tells the definition (argument
// `stbi__jpeg *j`) from the calls (`j` or `z`) by pasting the argument's first token.
#define stbi__grow_buffer_unsafe(jpeg) CLIP_STB_REFILL_##jpeg)
#define CLIP_STB_REFILL_stbi__jpeg stbi__grow_buffer_unsafe_stb(stbi__jpeg
#define CLIP_STB_REFILL_j clip_stb_refill(j
#define CLIP_STB_REFILL_z clip_stb_refill(z
#define clip_stb_refill(jpeg)              \
  [](auto* state) {                        \
    if (!state->nomore) {                  \
      stbi__grow_buffer_unsafe_stb(state); \
      return;                              \
    }                                      \
    do state->code_bits += 8;              \
    while (state->code_bits <= 24);        \
  }(jpeg)
// stb 2.27 reads a zero-length PNG chunk with memcpy(NULL, ..., 0) before the first IDAT has
// allocated its buffer: harmless, yet undefined behaviour (found by fuzzing under UBSan). Reads of
// zero bytes succeed without the copy, as stb's own code would; the same first-token trick as
// above tells the definition (`stbi__context *s`) from the calls (`s`).
#define stbi__getn(first, ...) CLIP_STB_GETN_##first, __VA_ARGS__)
#define CLIP_STB_GETN_stbi__context stbi__getn_stb(stbi__context
#define CLIP_STB_GETN_s clip_stb_getn(s
#define clip_stb_getn(context, buffer, count)                                                 \
  [](auto* state, auto* into, int n) { return n == 0 ? 1 : stbi__getn_stb(state, into, n); }( \
      context, buffer, count)
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
#undef stbi__grow_buffer_unsafe
#undef CLIP_STB_REFILL_stbi__jpeg
#undef CLIP_STB_REFILL_j
#undef CLIP_STB_REFILL_z
#undef clip_stb_refill
#undef stbi__getn
#undef CLIP_STB_GETN_stbi__context
#undef CLIP_STB_GETN_s
#undef clip_stb_getn

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

// Debian's stb_image is 2.27, whose JPEG decoder trusts its Huffman tables (upstream 2.28 added
// the checks): a DHT declaring more than 256 codes overruns the table, a DC symbol above 15
// indexes past a bit-mask table, and a scan using a table no DHT defined reads uninitialized
// memory as lookup indices. So before stb parses anything, the segments are walked the way stb
// walks them (by length; bytes between segments skipped one at a time; after SOS, entropy-coded
// data up to the first marker that is neither a stuffed FF nor RSTn) and such files refused.
void check_jpeg_for_stb(const uint8_t* bytes, size_t size) {
  const auto at = [&](size_t i) -> unsigned { return i < size ? bytes[i] : 0; };
  bool defined[2][4] = {};  // [DC, AC][table id]
  bool progressive = false;
  size_t pos = 2;  // after SOI
  while (pos + 1 < size) {
    if (bytes[pos] != 0xFF) {
      ++pos;
      continue;
    }
    while (pos < size && bytes[pos] == 0xFF) ++pos;
    if (pos >= size) return;
    const unsigned marker = bytes[pos++];
    if (marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;
    if (marker == 0xD9) return;  // EOI
    const size_t length = (at(pos) << 8) | at(pos + 1);
    if (marker == 0xC2) progressive = true;
    if (marker == 0xC4) {  // DHT: tables (class/id, 16 code counts, symbols) until length runs out
      size_t table = pos + 2;
      for (long left = static_cast<long>(length) - 2; left > 0 && table < size;) {
        const unsigned table_class = at(table) >> 4, id = at(table) & 15;
        size_t codes = 0;
        for (size_t i = 1; i <= 16; ++i) codes += at(table + i);
        if (table_class > 1 || id > 3) fail("decode_image: corrupt JPEG (bad Huffman table id)");
        if (codes > 256) {
          fail("decode_image: corrupt JPEG (Huffman table with ", codes, " codes, at most 256)");
        }
        for (size_t i = 0; table_class == 0 && i < codes; ++i) {
          if (at(table + 17 + i) > 15) {
            fail("decode_image: corrupt JPEG (DC Huffman symbol ", at(table + 17 + i), ")");
          }
        }
        defined[table_class][id] = true;
        table += 17 + codes;
        left -= static_cast<long>(17 + codes);
      }
    }
    if (marker == 0xDA) {  // SOS: which tables the scan decodes with
      const size_t count = at(pos + 2);
      const unsigned spectral_start = at(pos + 3 + 2 * count);
      const unsigned approx_high = at(pos + 5 + 2 * count) >> 4;
      const bool uses_dc = !progressive || (spectral_start == 0 && approx_high == 0);
      const bool uses_ac = !progressive || spectral_start != 0;
      for (size_t c = 0; c < count; ++c) {
        const unsigned dc = at(pos + 4 + 2 * c) >> 4, ac = at(pos + 4 + 2 * c) & 15;
        if ((uses_dc && dc < 4 && !defined[0][dc]) || (uses_ac && ac < 4 && !defined[1][ac])) {
          fail("decode_image: unsupported JPEG (a scan uses a Huffman table it never defines)");
        }
      }
    }
    pos += length;
    if (marker == 0xDA) {  // skip the entropy-coded data
      while (pos + 1 < size && !(bytes[pos] == 0xFF && bytes[pos + 1] != 0x00 &&
                                 !(bytes[pos + 1] >= 0xD0 && bytes[pos + 1] <= 0xD7))) {
        ++pos;
      }
    }
  }
}

// Peak bytes per pixel of stb's decoder for this file: two of its buffers are alive at once at
// each step. GIF: an RGBA canvas, the previous canvas and a history byte. PNG: the inflated
// samples and the image filtered out of them (16-bit samples take two bytes in both), then the
// palette-expanded or 8-bit image and the RGB result. JPEG and BMP: at most four components and
// the RGB result.
int decode_bytes_per_pixel(Format format, const uint8_t* bytes, size_t size) {
  constexpr int kRgb = 3;
  if (format == Format::kGif) return 4 + 4 + 1;
  if (format == Format::kPng && size >= 26) {  // IHDR: bit depth at 24, color type at 25
    const int depth = bytes[24], color_type = bytes[25];
    const int samples = color_type == 2 ? 3 : color_type == 4 ? 2 : color_type == 6 ? 4 : 1;
    const int raw = samples * (depth == 16 ? 2 : 1);  // sub-byte depths round up
    const int expanded = color_type == 3 ? 4 : samples;
    return std::max({2 * raw, raw + expanded, expanded + kRgb});
  }
  return 4 + kRgb;
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

  if (format == Format::kJpeg) check_jpeg_for_stb(bytes, size);

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
  const int64_t decode_bytes =
      int64_t{width} * height * decode_bytes_per_pixel(format, bytes, size);
  if (decode_bytes > limits.max_decode_bytes) {
    fail("decode_image: decoding this ", width, "x", height, " ", name, " would take ",
         decode_bytes >> 20, " MB, more than the limit of ", limits.max_decode_bytes >> 20, " MB");
  }

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

// Pillow 9.4's antialiased bicubic resize (libImaging/Resample.c), reproduced bit for bit, and the
// CLIP preprocessing chain built on it. Written here rather than taken from a library because no
// packaged resampler matches Pillow's fixed-point rounding, and CLIP's reference is Pillow.
//
// Pillow's algorithm, per axis: the filter a = -0.5 cubic is stretched by the downscale factor
// (never shrunk when upscaling), evaluated in double at each input pixel centre of the output
// pixel's window, normalized to sum 1, then rounded to signed fixed point with 22 fractional
// bits. The horizontal pass runs first and is rounded and clipped to uint8 before the vertical
// pass. An axis whose size does not change is skipped entirely.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <vector>

#include "common.h"
#include "image.h"
#include "kernels/simd.h"  // SIMD128 intrinsics; natively through simde

// The coefficients must be computed exactly as Pillow's C code does: no fused multiply-add.
#ifdef __clang__
#pragma clang fp contract(off)
#endif

namespace clip {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // 8 bits of result, 2 of headroom for overshoot
constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);
constexpr double kBicubicSupport = 2.0;

// Keys' cubic convolution kernel with a = -0.5, written in Pillow's operation order.
double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

uint8_t clip8(int32_t sum) {
  // Arithmetic shift (floor), then clamp: Pillow's lookup table does the same for the range
  // that normalized coefficients can reach.
  int32_t value = sum >> kPrecisionBits;
  return static_cast<uint8_t>(value < 0 ? 0 : (value > 255 ? 255 : value));
}

// Fixed-point filter taps along one axis for outputs [out_begin, out_end) of out_size.
// Output i reads input samples [first[i], first[i] + count[i]) with weights at offset[i].
struct AxisFilter {
  std::vector<int> first;
  std::vector<int> count;
  std::vector<size_t> offset;
  std::vector<int32_t> weights;
  int min_input = 0;  // union of all windows: [min_input, max_input)
  int max_input = 0;
};

AxisFilter axis_filter(int in_size, int out_size, int out_begin, int out_end) {
  // Pillow takes the source box (0, 0, w, h) as floats; in0 = 0 and in1 = in_size exactly.
  const float in0 = 0.0f;
  const float in1 = static_cast<float>(in_size);
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = kBicubicSupport * filterscale;
  const double inverse_filterscale = 1.0 / filterscale;

  AxisFilter filter;
  const int n = out_end - out_begin;
  filter.first.resize(n);
  filter.count.resize(n);
  filter.offset.resize(n);
  filter.min_input = in_size;
  std::vector<double> taps;
  for (int i = 0; i < n; ++i) {
    const int xx = out_begin + i;
    const double center = in0 + (xx + 0.5) * scale;
    // Truncation toward zero, as Pillow's (int) casts.
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    const int count = std::max(xmax - xmin, 0);

    taps.assign(count, 0.0);
    double sum = 0.0;
    for (int x = 0; x < count; ++x) {
      const double w = bicubic_filter((x + xmin - center + 0.5) * inverse_filterscale);
      taps[x] = w;
      sum += w;
    }
    filter.first[i] = xmin;
    filter.count[i] = count;
    filter.offset[i] = filter.weights.size();
    for (int x = 0; x < count; ++x) {
      const double k = sum != 0.0 ? taps[x] / sum : taps[x];
      const double scaled = k * (1 << kPrecisionBits);
      filter.weights.push_back(static_cast<int32_t>(k < 0 ? -0.5 + scaled : 0.5 + scaled));
    }
    filter.min_input = std::min(filter.min_input, xmin);
    filter.max_input = std::max(filter.max_input, xmin + count);
  }
  if (n == 0 || filter.min_input >= filter.max_input) {
    fail("resize_bicubic: empty filter window (", in_size, " -> ", out_size, ")");
  }
  return filter;
}

// Horizontal-pass weights split as w = hi * 2^11 + lo with 0 <= lo < 2^11, both fitting int16, so
// the tap loop is a 16-bit dot product (i32x4.dot_i16x8_s, pmaddwd natively); the sums recombine
// into exactly Pillow's 32-bit sum. Each output's taps are zero-padded to a multiple of kLanes
// so the loop has no scalar remainder.
constexpr int kSplitBits = 11;
constexpr int kLanes = 8;  // int16 lanes of a 128-bit vector

struct SplitWeights {
  std::vector<int16_t> hi;
  std::vector<int16_t> lo;
  std::vector<size_t> offset;  // per output
  std::vector<int> padded;     // per output: count rounded up to kLanes
};

SplitWeights split_weights(const AxisFilter& filter) {
  SplitWeights split;
  const size_t n = filter.first.size();
  split.offset.resize(n);
  split.padded.resize(n);
  for (size_t i = 0; i < n; ++i) {
    split.offset[i] = split.hi.size();
    split.padded[i] = (filter.count[i] + kLanes - 1) / kLanes * kLanes;
    split.hi.resize(split.hi.size() + split.padded[i], 0);
    split.lo.resize(split.hi.size(), 0);
    for (int t = 0; t < filter.count[i]; ++t) {
      const int32_t w = filter.weights[filter.offset[i] + t];
      const int32_t hi = w >> kSplitBits;  // floor, so lo is never negative
      if (hi < INT16_MIN || hi > INT16_MAX) {
        fail("resize_bicubic: filter weight ", w, " out of range");
      }
      split.hi[split.offset[i] + t] = static_cast<int16_t>(hi);
      split.lo[split.offset[i] + t] = static_cast<int16_t>(w - hi * (1 << kSplitBits));
    }
  }
  return split;
}

// count: a multiple of kLanes. Lane sums wrap modulo 2^32, and so does the recombination, which
// is exact because the true total fits in 32 bits (as it does in Pillow).
int32_t dot_split(const int16_t* src, const int16_t* hi, const int16_t* lo, int count) {
  v128_t sum_hi = wasm_i32x4_splat(0);
  v128_t sum_lo = wasm_i32x4_splat(0);
  for (int t = 0; t < count; t += kLanes) {
    const v128_t pixels = wasm_v128_load(src + t);
    sum_hi = wasm_i32x4_add(sum_hi, wasm_i32x4_dot_i16x8(pixels, wasm_v128_load(hi + t)));
    sum_lo = wasm_i32x4_add(sum_lo, wasm_i32x4_dot_i16x8(pixels, wasm_v128_load(lo + t)));
  }
  const v128_t sum = wasm_i32x4_add(wasm_i32x4_shl(sum_hi, kSplitBits), sum_lo);
  const uint32_t total = static_cast<uint32_t>(wasm_i32x4_extract_lane(sum, 0)) +
                         static_cast<uint32_t>(wasm_i32x4_extract_lane(sum, 1)) +
                         static_cast<uint32_t>(wasm_i32x4_extract_lane(sum, 2)) +
                         static_cast<uint32_t>(wasm_i32x4_extract_lane(sum, 3));
  return static_cast<int32_t>(total);
}

// Horizontal pass over input rows [row_begin, row_end): each row is split into three int16
// planes (zero-padded by kLanes) so the tap loop is a contiguous dot product.
// out: [row_end - row_begin, columns.first.size(), 3]
std::vector<uint8_t> resample_rows(const RgbImage& image, int row_begin, int row_end,
                                   const AxisFilter& columns) {
  const int out_width = static_cast<int>(columns.first.size());
  const int in_begin = columns.min_input;
  const int in_width = columns.max_input - in_begin;
  const int plane_size = in_width + kLanes;
  const SplitWeights split = split_weights(columns);
  std::vector<uint8_t> out(static_cast<size_t>(row_end - row_begin) * out_width * 3);
  std::vector<int16_t> planes(static_cast<size_t>(plane_size) * 3, 0);
  int16_t* plane[3] = {planes.data(), planes.data() + plane_size, planes.data() + 2 * plane_size};
  for (int y = row_begin; y < row_end; ++y) {
    const uint8_t* row =
        image.pixels.data() + (static_cast<size_t>(y) * image.width + in_begin) * 3;
    for (int x = 0; x < in_width; ++x) {
      plane[0][x] = row[3 * x + 0];
      plane[1][x] = row[3 * x + 1];
      plane[2][x] = row[3 * x + 2];
    }
    uint8_t* dst = out.data() + static_cast<size_t>(y - row_begin) * out_width * 3;
    for (int i = 0; i < out_width; ++i) {
      const int16_t* hi = split.hi.data() + split.offset[i];
      const int16_t* lo = split.lo.data() + split.offset[i];
      const int first = columns.first[i] - in_begin;
      for (int c = 0; c < 3; ++c) {
        dst[3 * i + c] = clip8(kHalf + dot_split(plane[c] + first, hi, lo, split.padded[i]));
      }
    }
  }
  return out;
}

// Vertical pass. src holds rows [src_row0, ...) with `stride` bytes per row; each output row
// reads `values` bytes from src_col (interleaved RGB, the column window already applied).
void resample_columns(const uint8_t* src, size_t stride, int src_row0, const AxisFilter& rows,
                      size_t values, uint8_t* out) {
  std::vector<int32_t> sum(values);
  for (size_t i = 0; i < rows.first.size(); ++i) {
    const int32_t* k = rows.weights.data() + rows.offset[i];
    std::fill(sum.begin(), sum.end(), kHalf);
    for (int t = 0; t < rows.count[i]; ++t) {
      const uint8_t* line = src + static_cast<size_t>(rows.first[i] + t - src_row0) * stride;
      const int32_t weight = k[t];
      for (size_t j = 0; j < values; ++j) sum[j] += line[j] * weight;
    }
    uint8_t* dst = out + i * values;
    for (size_t j = 0; j < values; ++j) dst[j] = clip8(sum[j]);
  }
}

void check_rgb(const RgbImage& image, const char* where) {
  if (image.width <= 0 || image.height <= 0) {
    fail(where, ": empty image (", image.width, "x", image.height, ")");
  }
  if (image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    fail(where, ": ", image.width, "x", image.height, " RGB image holds ", image.pixels.size(),
         " bytes, expected ", static_cast<size_t>(image.width) * image.height * 3);
  }
}

RgbImage crop(const RgbImage& image, const PixelRect& region) {
  RgbImage out;
  out.width = region.width;
  out.height = region.height;
  out.pixels.resize(static_cast<size_t>(region.width) * region.height * 3);
  for (int y = 0; y < region.height; ++y) {
    const uint8_t* src =
        image.pixels.data() + (static_cast<size_t>(region.y + y) * image.width + region.x) * 3;
    std::copy(src, src + region.width * 3,
              out.pixels.data() + static_cast<size_t>(y) * region.width * 3);
  }
  return out;
}

// Python's round() of d / 2 for an integer d >= 0: halves go to the even neighbour.
int half_round_to_even(int d) {
  const int floor_half = d / 2;
  if (d % 2 == 0) return floor_half;
  return floor_half % 2 == 0 ? floor_half : floor_half + 1;
}

}  // namespace

RgbImage resize_bicubic_region(const RgbImage& image, int width, int height,
                               const PixelRect& region) {
  check_rgb(image, "resize_bicubic");
  if (width <= 0 || height <= 0) fail("resize_bicubic: bad output size ", width, "x", height);
  if (region.width <= 0 || region.height <= 0 || region.x < 0 || region.y < 0 ||
      region.x > width - region.width || region.y > height - region.height) {
    fail("resize_bicubic: region ", region.width, "x", region.height, " at (", region.x, ", ",
         region.y, ") is not inside the ", width, "x", height, " output");
  }
  if (static_cast<int64_t>(region.width) * region.height > ImageLimits{}.max_pixels) {
    fail("resize_bicubic: region ", region.width, "x", region.height, " is too large");
  }
  const bool need_horizontal = width != image.width;
  const bool need_vertical = height != image.height;
  if (!need_horizontal && !need_vertical) return crop(image, region);

  RgbImage out;
  out.width = region.width;
  out.height = region.height;
  out.pixels.resize(static_cast<size_t>(region.width) * region.height * 3);
  const size_t values = static_cast<size_t>(region.width) * 3;

  if (!need_vertical) {  // horizontal only: the output rows are the input rows
    const AxisFilter columns = axis_filter(image.width, width, region.x, region.x + region.width);
    out.pixels = resample_rows(image, region.y, region.y + region.height, columns);
    return out;
  }
  const AxisFilter rows = axis_filter(image.height, height, region.y, region.y + region.height);
  if (!need_horizontal) {  // vertical only, straight from the input's region columns
    const uint8_t* src = image.pixels.data() + static_cast<size_t>(region.x) * 3;
    resample_columns(src, static_cast<size_t>(image.width) * 3, 0, rows, values, out.pixels.data());
    return out;
  }
  const AxisFilter columns = axis_filter(image.width, width, region.x, region.x + region.width);
  const std::vector<uint8_t> temp = resample_rows(image, rows.min_input, rows.max_input, columns);
  resample_columns(temp.data(), values, rows.min_input, rows, values, out.pixels.data());
  return out;
}

std::array<int, 2> shorter_side_resized_size(int width, int height, int size) {
  if (width <= 0 || height <= 0 || size <= 0) {
    fail("shorter_side_resized_size: bad sizes ", width, "x", height, " -> ", size);
  }
  const int64_t shorter = std::min(width, height);
  const int64_t longer = std::max(width, height);
  // torchvision: int(size * long / short), a true division in double, truncated.
  const double exact = static_cast<double>(size * longer) / static_cast<double>(shorter);
  if (exact >= static_cast<double>(INT_MAX)) {
    fail("shorter_side_resized_size: ", width, "x", height, " resized to ", size,
         " is too long on its longer side");
  }
  const int new_long = static_cast<int>(exact);
  return width <= height ? std::array<int, 2>{size, new_long} : std::array<int, 2>{new_long, size};
}

std::vector<float> preprocess_image(const RgbImage& image, const PreprocessConfig& config) {
  check_rgb(image, "preprocess_image");
  const int size = config.image_size;
  if (size <= 0 || size > kMaxModelImageSize) fail("preprocess_image: bad image_size ", size);
  for (int c = 0; c < 3; ++c) {
    if (!(std::isfinite(config.std[c]) && config.std[c] != 0.0f && std::isfinite(config.mean[c]))) {
      fail("preprocess_image: bad normalization for channel ", c, " (mean ", config.mean[c],
           ", std ", config.std[c], ")");
    }
  }

  // Resize(size, BICUBIC): skipped when the size already matches, as torchvision does.
  const auto [resized_width, resized_height] =
      shorter_side_resized_size(image.width, image.height, size);
  // CenterCrop(size): offsets are Python's round((extent - size) / 2).
  const PixelRect window{half_round_to_even(resized_width - size),
                         half_round_to_even(resized_height - size), size, size};
  const RgbImage cropped = resize_bicubic_region(image, resized_width, resized_height, window);

  // ToTensor then Normalize in float32, in torch's operation order (divide, subtract, divide),
  // tabulated per channel and byte value.
  float table[3][256];
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      const float unit = static_cast<float>(v) / 255.0f;
      table[c][v] = (unit - config.mean[c]) / config.std[c];
    }
  }
  const size_t plane = static_cast<size_t>(size) * size;
  std::vector<float> tensor(3 * plane);  // [3, size, size]
  for (size_t p = 0; p < plane; ++p) {
    for (int c = 0; c < 3; ++c) tensor[c * plane + p] = table[c][cropped.pixels[3 * p + c]];
  }
  return tensor;
}

}  // namespace clip

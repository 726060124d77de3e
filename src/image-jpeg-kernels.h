// JPEG pixel kernels that give libjpeg(-turbo)'s exact output, for stb_image's JPEG decoder.
// Included by image.cpp only, before stb_image.h's implementation (see there).
//
// Why: the reference pipeline decodes with Pillow, i.e. libjpeg-turbo with its defaults
// (JDCT_ISLOW integer IDCT, "fancy" triangle upsampling, table-driven YCbCr->RGB). stb_image's
// own kernels round differently and move pixels by up to 3 levels. stb does the entropy
// decoding, dequantization and buffering; these replace its four per-pixel steps, written from
// the algorithms libjpeg documents (Loeffler-Ligtenberg-Moschytz IDCT with 13-bit constants,
// 3/4-1/4 upsampling with alternating rounding bias, 16-bit colour tables).
//
// The names and signatures are stb_image's own: image.cpp renames stb's definitions out of the
// way with function-like macros, so stb's kernel set-up binds these instead. Should stb rename
// them, these become unused and the -Werror build stops.
#pragma once

#include <cstdint>

namespace {

// ---- inverse DCT (libjpeg's jidctint.c algorithm: CONST_BITS 13, PASS1_BITS 2) ----

constexpr int kIdctConstBits = 13;
constexpr int kIdctPass1Bits = 2;
constexpr int64_t kFix_0_298631336 = 2446;
constexpr int64_t kFix_0_390180644 = 3196;
constexpr int64_t kFix_0_541196100 = 4433;
constexpr int64_t kFix_0_765366865 = 6270;
constexpr int64_t kFix_0_899976223 = 7373;
constexpr int64_t kFix_1_175875602 = 9633;
constexpr int64_t kFix_1_501321110 = 12299;
constexpr int64_t kFix_1_847759065 = 15137;
constexpr int64_t kFix_1_961570560 = 16069;
constexpr int64_t kFix_2_053119869 = 16819;
constexpr int64_t kFix_2_562915447 = 20995;
constexpr int64_t kFix_3_072711026 = 25172;

inline int64_t jpeg_descale(int64_t x, int n) {
  return (x + (int64_t{1} << (n - 1))) >> n;
}

// libjpeg's post-IDCT range limit: the value is taken modulo 1024 first, so wild values from
// corrupt data wrap exactly as libjpeg's lookup table makes them.
inline unsigned char jpeg_idct_sample(int64_t x) {
  const int m = static_cast<int>(x & 1023);
  if (m < 128) return static_cast<unsigned char>(m + 128);
  if (m < 512) return 255;
  if (m < 896) return 0;
  return static_cast<unsigned char>(m - 896);
}

// One 8-point 1-D IDCT: s[k * step] are the 8 inputs; results before descaling in
// out_even_odd order: o[0..7] such that sample i = o[i].
inline void jpeg_idct_1d(int64_t s0, int64_t s1, int64_t s2, int64_t s3, int64_t s4, int64_t s5,
                         int64_t s6, int64_t s7, int64_t o[8]) {
  // Even part.
  int64_t z1 = (s2 + s6) * kFix_0_541196100;
  const int64_t tmp2 = z1 + s6 * -kFix_1_847759065;
  const int64_t tmp3 = z1 + s2 * kFix_0_765366865;
  const int64_t tmp0 = (s0 + s4) * (int64_t{1} << kIdctConstBits);
  const int64_t tmp1 = (s0 - s4) * (int64_t{1} << kIdctConstBits);
  const int64_t tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3;
  const int64_t tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
  // Odd part.
  int64_t t0 = s7, t1 = s5, t2 = s3, t3 = s1;
  z1 = t0 + t3;
  int64_t z2 = t1 + t2, z3 = t0 + t2, z4 = t1 + t3;
  const int64_t z5 = (z3 + z4) * kFix_1_175875602;
  t0 *= kFix_0_298631336;
  t1 *= kFix_2_053119869;
  t2 *= kFix_3_072711026;
  t3 *= kFix_1_501321110;
  z1 *= -kFix_0_899976223;
  z2 *= -kFix_2_562915447;
  z3 = z3 * -kFix_1_961570560 + z5;
  z4 = z4 * -kFix_0_390180644 + z5;
  t0 += z1 + z3;
  t1 += z2 + z4;
  t2 += z2 + z3;
  t3 += z1 + z4;
  o[0] = tmp10 + t3;
  o[7] = tmp10 - t3;
  o[1] = tmp11 + t2;
  o[6] = tmp11 - t2;
  o[2] = tmp12 + t1;
  o[5] = tmp12 - t1;
  o[3] = tmp13 + t0;
  o[4] = tmp13 - t0;
}

// data: dequantized coefficients in natural order [v * 8 + u]; out: 8 rows of 8 samples.
static void stbi__idct_block(unsigned char* out, int out_stride, short data[64]) {
  int workspace[64];
  int64_t o[8];
  for (int col = 0; col < 8; ++col) {  // pass 1: columns, keep PASS1_BITS of extra precision
    const short* in = data + col;
    jpeg_idct_1d(in[0], in[8], in[16], in[24], in[32], in[40], in[48], in[56], o);
    for (int k = 0; k < 8; ++k) {
      workspace[k * 8 + col] =
          static_cast<int>(jpeg_descale(o[k], kIdctConstBits - kIdctPass1Bits));
    }
  }
  for (int row = 0; row < 8; ++row) {  // pass 2: rows, remove all scaling, centre at 128
    const int* w = workspace + row * 8;
    jpeg_idct_1d(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], o);
    unsigned char* dst = out + row * out_stride;
    for (int k = 0; k < 8; ++k) {
      dst[k] = jpeg_idct_sample(jpeg_descale(o[k], kIdctConstBits + kIdctPass1Bits + 3));
    }
  }
}

// ---- chroma upsampling (libjpeg's "fancy" upsampling) ----
// Each output sample is 3/4 of the nearer input and 1/4 of the further one; libjpeg alternates
// the rounding bias between the two outputs of an input sample so errors do not drift. Rows at
// least 3 samples wide only; narrower ones are replicated, as libjpeg does.

// 2x horizontally and vertically. in_near/in_far: the nearer and further input rows.
static unsigned char* stbi__resample_row_hv_2(unsigned char* out, unsigned char* in_near,
                                              unsigned char* in_far, int w, int hs) {
  (void)hs;
  if (w <= 2) {
    for (int i = 0; i < w; ++i) out[2 * i] = out[2 * i + 1] = in_near[i];
    return out;
  }
  int this_sum = 3 * in_near[0] + in_far[0];
  int next_sum = 3 * in_near[1] + in_far[1];
  out[0] = static_cast<unsigned char>((this_sum * 4 + 8) >> 4);
  out[1] = static_cast<unsigned char>((this_sum * 3 + next_sum + 7) >> 4);
  for (int i = 1; i < w - 1; ++i) {
    const int last_sum = this_sum;
    this_sum = next_sum;
    next_sum = 3 * in_near[i + 1] + in_far[i + 1];
    out[2 * i] = static_cast<unsigned char>((this_sum * 3 + last_sum + 8) >> 4);
    out[2 * i + 1] = static_cast<unsigned char>((this_sum * 3 + next_sum + 7) >> 4);
  }
  // next_sum now belongs to the last column.
  out[2 * (w - 1)] = static_cast<unsigned char>((next_sum * 3 + this_sum + 8) >> 4);
  out[2 * (w - 1) + 1] = static_cast<unsigned char>((next_sum * 4 + 7) >> 4);
  return out;
}

// 2x horizontally.
static unsigned char* stbi__resample_row_h_2(unsigned char* out, unsigned char* in_near,
                                             unsigned char* in_far, int w, int hs) {
  (void)in_far;
  (void)hs;
  const unsigned char* in = in_near;
  if (w <= 2) {
    for (int i = 0; i < w; ++i) out[2 * i] = out[2 * i + 1] = in[i];
    return out;
  }
  out[0] = in[0];
  out[1] = static_cast<unsigned char>((in[0] * 3 + in[1] + 2) >> 2);
  for (int i = 1; i < w - 1; ++i) {
    const int value = in[i] * 3;
    out[2 * i] = static_cast<unsigned char>((value + in[i - 1] + 1) >> 2);
    out[2 * i + 1] = static_cast<unsigned char>((value + in[i + 1] + 2) >> 2);
  }
  out[2 * (w - 1)] = static_cast<unsigned char>((in[w - 1] * 3 + in[w - 2] + 1) >> 2);
  out[2 * (w - 1) + 1] = in[w - 1];
  return out;
}

// 2x vertically. libjpeg biases the upper output row by 1 and the lower by 2; stb's rows live in
// one buffer top to bottom, so the further row is above when its address is lower. (At the
// edges both rows are the same and either bias gives the input back.) Untested against Pillow:
// it cannot write 4:4:0 files.
static unsigned char* stbi__resample_row_v_2(unsigned char* out, unsigned char* in_near,
                                             unsigned char* in_far, int w, int hs) {
  (void)hs;
  const int bias = in_far < in_near ? 1 : 2;
  for (int i = 0; i < w; ++i) {
    out[i] = static_cast<unsigned char>((3 * in_near[i] + in_far[i] + bias) >> 2);
  }
  return out;
}

// ---- YCbCr -> RGB (libjpeg's jdcolor.c tables, 16 fractional bits) ----

struct JpegColorTables {
  int cr_r[256];
  int cb_b[256];
  int64_t cr_g[256];
  int64_t cb_g[256];
  JpegColorTables() {
    constexpr int kScaleBits = 16;
    constexpr int64_t kOneHalf = int64_t{1} << (kScaleBits - 1);
    const auto fix = [](double x) { return static_cast<int64_t>(x * (1 << kScaleBits) + 0.5); };
    for (int i = 0; i < 256; ++i) {
      const int64_t x = i - 128;
      cr_r[i] = static_cast<int>((fix(1.40200) * x + kOneHalf) >> kScaleBits);
      cb_b[i] = static_cast<int>((fix(1.77200) * x + kOneHalf) >> kScaleBits);
      cr_g[i] = -fix(0.71414) * x;
      cb_g[i] = -fix(0.34414) * x + kOneHalf;
    }
  }
};

inline unsigned char jpeg_clamp(int64_t x) {
  return static_cast<unsigned char>(x < 0 ? 0 : (x > 255 ? 255 : x));
}

// step: bytes per output pixel (3, or 4 with an opaque alpha written, as stb expects).
static void stbi__YCbCr_to_RGB_row(unsigned char* out, const unsigned char* y,
                                   const unsigned char* pcb, const unsigned char* pcr, int count,
                                   int step) {
  static const JpegColorTables tables;
  for (int i = 0; i < count; ++i) {
    const int luma = y[i], cb = pcb[i], cr = pcr[i];
    out[0] = jpeg_clamp(luma + tables.cr_r[cr]);
    out[1] = jpeg_clamp(luma + ((tables.cb_g[cb] + tables.cr_g[cr]) >> 16));
    out[2] = jpeg_clamp(luma + tables.cb_b[cb]);
    if (step == 4) out[3] = 255;
    out += step;
  }
}

}  // namespace

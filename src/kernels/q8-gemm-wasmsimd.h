// Body of the int8-weight GEMM microkernels: an MR x 8 tile of int32 accumulators fed by
// i32x4.dot_i16x8_s (two multiply-adds per lane per instruction), over weights packed by
// pack_q8_gemm and activations quantized by quantize_rows_q16 (kernels.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/f32-gemm-wasmsimd.h"
#include "kernels/simd.h"
#include "kernels/vector-math.h"

namespace clip::kernels {

// Eight int8 widened to int16. Written as extend(load64_zero) rather than load8x8: clang emits
// the same single i16x8.load8x8_s for wasm, while simde's native load8x8 takes five instructions
// where this form takes one (vpmovsxbw from memory).
inline v128_t load_i8x8_to_i16x8(const int8_t* p) {
  return wasm_i16x8_extend_low_i8x16(wasm_v128_load64_zero(p));
}

// One pair of k: acc[i] += a[i, k] * w[k, 0..8) + a[i, k+1] * w[k+1, 0..8), in int32; `a`
// points at the pair's MR (a[i, k], a[i, k+1]) inputs.
template <int MR>
inline void q8_gemm_step(v128_t (&acc)[MR][2], const int16_t* a, const int8_t* w) {
  // Columns 0..3 and 4..7, each as four (w[c, k], w[c, k+1]) int16 pairs.
  const v128_t b_lo = load_i8x8_to_i16x8(w);
  const v128_t b_hi = load_i8x8_to_i16x8(w + 8);
  CLIP_UNROLL_ROWS
  for (int i = 0; i < MR; ++i) {
    const v128_t va = wasm_v128_load32_splat(a + 2 * i);  // (a[k], a[k+1]) x 4
    acc[i][0] = wasm_i32x4_add(acc[i][0], wasm_i32x4_dot_i16x8(va, b_lo));
    acc[i][1] = wasm_i32x4_add(acc[i][1], wasm_i32x4_dot_i16x8(va, b_hi));
  }
}

// c[MR, nc] from a tile written by quantize_rows_q16 (kernels.h).
template <int MR>
inline void q8_gemm_mx8(size_t nc, size_t kc, const int16_t* a, const float* a_scale,
                        const int8_t* w, float* c, size_t c_stride, Activation act) {
  float* c_row[MR];
  v128_t row_scale[MR];
  CLIP_UNROLL_ROWS
  for (int i = 0; i < MR; ++i) {
    c_row[i] = c + i * c_stride;
    row_scale[i] = wasm_v128_load32_splat(a_scale + i);
  }
  const int16_t* a_end = a + kc * MR;
  for (;;) {
    const v128_t bias_lo = wasm_v128_load(w);
    const v128_t bias_hi = wasm_v128_load(w + 16);
    const v128_t scale_lo = wasm_v128_load(w + 32);
    const v128_t scale_hi = wasm_v128_load(w + 48);
    w += 64;
    v128_t acc[MR][2];
    CLIP_UNROLL_ROWS
    for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = wasm_i32x4_splat(0);
    // Unrolled by 4 pair steps, each in a basic block of its own (see f32_gemm_mx8).
    if (kc != 0) {
      const int16_t* ak = a;
      for (;;) {
        q8_gemm_step<MR>(acc, ak, w);
        w += 16;
        if ((ak += 2 * MR) == a_end) break;
        q8_gemm_step<MR>(acc, ak, w);
        w += 16;
        if ((ak += 2 * MR) == a_end) break;
        q8_gemm_step<MR>(acc, ak, w);
        w += 16;
        if ((ak += 2 * MR) == a_end) break;
        q8_gemm_step<MR>(acc, ak, w);
        w += 16;
        if ((ak += 2 * MR) == a_end) break;
      }
    }
    v128_t out[MR][2];
    CLIP_UNROLL_ROWS
    for (int i = 0; i < MR; ++i) {
      const v128_t s_lo = wasm_f32x4_mul(row_scale[i], scale_lo);
      const v128_t s_hi = wasm_f32x4_mul(row_scale[i], scale_hi);
      out[i][0] =
          wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_convert_i32x4(acc[i][0]), s_lo), bias_lo);
      out[i][1] =
          wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_convert_i32x4(acc[i][1]), s_hi), bias_hi);
      if (act != Activation::none) {
        out[i][0] = activate_f32x4(out[i][0], act);
        out[i][1] = activate_f32x4(out[i][1], act);
      }
    }
    if (nc >= 8) {
      CLIP_UNROLL_ROWS
      for (int i = 0; i < MR; ++i) {
        wasm_v128_store(c_row[i], out[i][0]);
        wasm_v128_store(c_row[i] + 4, out[i][1]);
        c_row[i] += 8;
      }
      nc -= 8;
      if (nc == 0) return;
    } else {
      CLIP_UNROLL_ROWS
      for (int i = 0; i < MR; ++i) store_f32_partial(c_row[i], nc, out[i][0], out[i][1]);
      return;
    }
  }
}

}  // namespace clip::kernels

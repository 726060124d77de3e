// Body of the f32 GEMM microkernels: an MR x 8 register tile over weights packed by
// pack_f32_gemm (kernels.h). Instantiated once per tile height and multiply-add in
// f32-gemm-mx8-wasmsimd.cpp and f32-gemm-mx8-wasmrelaxedsimd.cpp, so each tile size is its own
// function that the wasm engine optimizes on its own.
#pragma once

#include <cstddef>

#include "kernels/simd.h"
#include "kernels/vector-math.h"

namespace clip::kernels {

// Stores the first n (< 8) lanes of the pair (lo, hi) to c.
inline void store_f32_partial(float* c, size_t n, v128_t lo, v128_t hi) {
  if (n & 4) {
    wasm_v128_store(c, lo);
    lo = hi;
    c += 4;
  }
  if (n & 2) {
    wasm_v128_store64_lane(c, lo, 0);
    lo = wasm_i64x2_shuffle(lo, lo, 1, 1);
    c += 2;
  }
  if (n & 1) wasm_v128_store32_lane(c, lo, 0);
}

// SIMD128's multiply-add: a multiply, then an add.
struct MulThenAdd {
  static v128_t madd(v128_t a, v128_t b, v128_t c) {
    return wasm_f32x4_add(wasm_f32x4_mul(a, b), c);
  }
};

// One step of k: acc[i] += a[i, k] * w[k, 0..8), with Madd::madd(a, b, c) = a * b + c; `a`
// points at step k's MR inputs.
template <int MR, typename Madd>
inline void f32_gemm_step(v128_t (&acc)[MR][2], const float* a, const float* w) {
  const v128_t b_lo = wasm_v128_load(w);
  const v128_t b_hi = wasm_v128_load(w + 4);
  CLIP_UNROLL_ROWS
  for (int i = 0; i < MR; ++i) {
    const v128_t va = wasm_v128_load32_splat(a + i);
    acc[i][0] = Madd::madd(va, b_lo, acc[i][0]);
    acc[i][1] = Madd::madd(va, b_hi, acc[i][1]);
  }
}

// c[MR, nc] = act(a[MR, kc] · W + bias), a packed by pack_f32_gemm_rows.
template <int MR, typename Madd>
inline void f32_gemm_mx8(size_t nc, size_t kc, const float* a, const float* w, float* c,
                         size_t c_stride, Activation act) {
  float* c_row[MR];
  CLIP_UNROLL_ROWS
  for (int i = 0; i < MR; ++i) c_row[i] = c + i * c_stride;
  const float* a_end = a + kc * MR;
  for (;;) {
    v128_t acc[MR][2];
    // Each panel starts with its 8 biases: the accumulators begin there.
    const v128_t bias_lo = wasm_v128_load(w);
    const v128_t bias_hi = wasm_v128_load(w + 4);
    w += 8;
    CLIP_UNROLL_ROWS
    for (int i = 0; i < MR; ++i) {
      acc[i][0] = bias_lo;
      acc[i][1] = bias_hi;
    }
    // k unrolled by 4 with the exit test after every step. The tests keep each step in a basic
    // block of its own: without them clang hoists the loads of all four steps to the top, and
    // the values no longer fit the 15 vector registers V8 allocates on x86-64 (spills: 31
    // instead of 46 GFLOP/s for the 4x8 tile).
    if (kc != 0) {
      const float* ak = a;
      for (;;) {
        f32_gemm_step<MR, Madd>(acc, ak, w);
        w += 8;
        if ((ak += MR) == a_end) break;
        f32_gemm_step<MR, Madd>(acc, ak, w);
        w += 8;
        if ((ak += MR) == a_end) break;
        f32_gemm_step<MR, Madd>(acc, ak, w);
        w += 8;
        if ((ak += MR) == a_end) break;
        f32_gemm_step<MR, Madd>(acc, ak, w);
        w += 8;
        if ((ak += MR) == a_end) break;
      }
    }
    if (act != Activation::none) {
      CLIP_UNROLL_ROWS
      for (int i = 0; i < MR; ++i) {
        acc[i][0] = activate_f32x4(acc[i][0], act);
        acc[i][1] = activate_f32x4(acc[i][1], act);
      }
    }
    if (nc >= 8) {
      CLIP_UNROLL_ROWS
      for (int i = 0; i < MR; ++i) {
        wasm_v128_store(c_row[i], acc[i][0]);
        wasm_v128_store(c_row[i] + 4, acc[i][1]);
        c_row[i] += 8;
      }
      nc -= 8;
      if (nc == 0) return;
    } else {
      CLIP_UNROLL_ROWS
      for (int i = 0; i < MR; ++i) store_f32_partial(c_row[i], nc, acc[i][0], acc[i][1]);
      return;
    }
  }
}

}  // namespace clip::kernels

// Defines f32_gemm_{1..6}x8__<ISA> in namespace clip::kernels with multiply-add MADD: the 1..6-row
// tiles (one function per row count, so any row count is covered by full tiles).
#define CLIP_F32_GEMM_MX8_KERNEL(M, ISA, MADD)                                                 \
  void f32_gemm_##M##x8__##ISA(size_t nc, size_t kc, const float* a, const float* w, float* c, \
                               size_t c_stride, Activation act) {                              \
    f32_gemm_mx8<M, MADD>(nc, kc, a, w, c, c_stride, act);                                     \
  }
#define CLIP_F32_GEMM_MX8_KERNELS(ISA, MADD) \
  CLIP_F32_GEMM_MX8_KERNEL(1, ISA, MADD)     \
  CLIP_F32_GEMM_MX8_KERNEL(2, ISA, MADD)     \
  CLIP_F32_GEMM_MX8_KERNEL(3, ISA, MADD)     \
  CLIP_F32_GEMM_MX8_KERNEL(4, ISA, MADD)     \
  CLIP_F32_GEMM_MX8_KERNEL(5, ISA, MADD)     \
  CLIP_F32_GEMM_MX8_KERNEL(6, ISA, MADD)

// Body of the f32 GEMM microkernels: an MR x 8 register tile (2 x 16 for two rows) over weights
// packed by pack_f32_gemm (kernels.h). Instantiated once per tile height and multiply-add in
// f32-gemm-mx8-wasmsimd.cpp and f32-gemm-mx8-wasmrelaxedsimd.cpp, so each tile size is its own
// function that the wasm engine optimizes on its own. Each block of four k steps starts with one
// read ahead (F32GemmFn in kernels.h).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "kernels/kernels.h"
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

// One read of the bytes read ahead; summed so that no compiler drops the reads.
inline uint32_t read_ahead(const uint8_t*& ahead, size_t step) {
  const uint32_t byte = *static_cast<const volatile uint8_t*>(ahead);
  ahead += step;
  return byte;
}

// c[MR, nc] = act(a[MR, kc] · W + bias), a packed by pack_f32_gemm_rows.
template <int MR, typename Madd>
inline uint32_t f32_gemm_mx8(size_t nc, size_t kc, const float* a, const float* w, float* c,
                             size_t c_stride, Activation act, const uint8_t* ahead,
                             size_t ahead_step) {
  uint32_t read_sum = 0;
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
        read_sum += read_ahead(ahead, ahead_step);
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
      if (nc == 0) return read_sum;
    } else {
      CLIP_UNROLL_ROWS
      for (int i = 0; i < MR; ++i) store_f32_partial(c_row[i], nc, acc[i][0], acc[i][1]);
      return read_sum;
    }
  }
}

// Two rows over pairs of panels: 2 x 16 outputs from 8 accumulators, as many as the 4 x 8 tile
// keeps in flight (with a fused multiply-add of 4 cycles' latency, two per cycle need 8 chains;
// a 2 x 8 tile's 4 would run at half speed). A last single panel goes through the 2 x 8 body.
// Each output is still summed in k order, as by every other tile.
template <typename Madd>
inline uint32_t f32_gemm_2x16(size_t nc, size_t kc, const float* a, const float* w, float* c,
                              size_t c_stride, Activation act, const uint8_t* ahead,
                              size_t ahead_step) {
  uint32_t read_sum = 0;
  const size_t panel_floats = kPanel * (1 + kc);
  const float* a_end = a + kc * 2;
  for (; nc > kPanel; nc -= std::min<size_t>(nc, 2 * kPanel)) {
    const float* w0 = w;
    const float* w1 = w + panel_floats;
    v128_t acc[2][4];
    for (int i = 0; i < 2; ++i) {
      acc[i][0] = wasm_v128_load(w0);
      acc[i][1] = wasm_v128_load(w0 + 4);
      acc[i][2] = wasm_v128_load(w1);
      acc[i][3] = wasm_v128_load(w1 + 4);
    }
    w0 += kPanel;
    w1 += kPanel;
    // One k step per basic block, as in f32_gemm_mx8.
    auto step = [&](const float* ak) {
      const v128_t b0 = wasm_v128_load(w0), b1 = wasm_v128_load(w0 + 4);
      const v128_t b2 = wasm_v128_load(w1), b3 = wasm_v128_load(w1 + 4);
      w0 += kPanel;
      w1 += kPanel;
      CLIP_UNROLL_ROWS
      for (int i = 0; i < 2; ++i) {
        const v128_t va = wasm_v128_load32_splat(ak + i);
        acc[i][0] = Madd::madd(va, b0, acc[i][0]);
        acc[i][1] = Madd::madd(va, b1, acc[i][1]);
        acc[i][2] = Madd::madd(va, b2, acc[i][2]);
        acc[i][3] = Madd::madd(va, b3, acc[i][3]);
      }
    };
    if (kc != 0) {
      for (const float* ak = a;;) {
        read_sum += read_ahead(ahead, ahead_step);
        step(ak);
        if ((ak += 2) == a_end) break;
        step(ak);
        if ((ak += 2) == a_end) break;
        step(ak);
        if ((ak += 2) == a_end) break;
        step(ak);
        if ((ak += 2) == a_end) break;
      }
    }
    const size_t second = std::min<size_t>(nc, 2 * kPanel) - kPanel;  // columns of the 2nd panel
    CLIP_UNROLL_ROWS
    for (int i = 0; i < 2; ++i) {
      v128_t out[4];
      for (int j = 0; j < 4; ++j) {
        out[j] = act != Activation::none ? activate_f32x4(acc[i][j], act) : acc[i][j];
      }
      float* row = c + i * c_stride;
      wasm_v128_store(row, out[0]);
      wasm_v128_store(row + 4, out[1]);
      if (second == kPanel) {
        wasm_v128_store(row + 8, out[2]);
        wasm_v128_store(row + 12, out[3]);
      } else {
        store_f32_partial(row + 8, second, out[2], out[3]);
      }
    }
    c += 2 * kPanel;
    w += 2 * panel_floats;
  }
  if (nc != 0) read_sum += f32_gemm_mx8<2, Madd>(nc, kc, a, w, c, c_stride, act, ahead, ahead_step);
  return read_sum;
}

}  // namespace clip::kernels

// Defines f32_gemm_{1x8,2x16,3x8..6x8}__<ISA> in namespace clip::kernels with multiply-add MADD:
// one function per row count, so any row count is covered by full tiles.
#define CLIP_F32_GEMM_MX8_KERNEL(M, ISA, MADD)                                                     \
  uint32_t f32_gemm_##M##x8__##ISA(size_t nc, size_t kc, const float* a, const float* w, float* c, \
                                   size_t c_stride, Activation act, const uint8_t* ahead,          \
                                   size_t ahead_step) {                                            \
    return f32_gemm_mx8<M, MADD>(nc, kc, a, w, c, c_stride, act, ahead, ahead_step);               \
  }
#define CLIP_F32_GEMM_MX8_KERNELS(ISA, MADD)                                                    \
  CLIP_F32_GEMM_MX8_KERNEL(1, ISA, MADD)                                                        \
  uint32_t f32_gemm_2x16__##ISA(size_t nc, size_t kc, const float* a, const float* w, float* c, \
                                size_t c_stride, Activation act, const uint8_t* ahead,          \
                                size_t ahead_step) {                                            \
    return f32_gemm_2x16<MADD>(nc, kc, a, w, c, c_stride, act, ahead, ahead_step);              \
  }                                                                                             \
  CLIP_F32_GEMM_MX8_KERNEL(3, ISA, MADD)                                                        \
  CLIP_F32_GEMM_MX8_KERNEL(4, ISA, MADD)                                                        \
  CLIP_F32_GEMM_MX8_KERNEL(5, ISA, MADD)                                                        \
  CLIP_F32_GEMM_MX8_KERNEL(6, ISA, MADD)

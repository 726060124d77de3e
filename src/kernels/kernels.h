// Compute kernels behind the operators in ops.h. Names follow XNNPACK's scheme:
// <dtype>_<op>_<MR>x<NR>__<isa>, where MR x NR is the register tile of output rows x columns.
//
// GEMM weights are packed once, at layer construction, into panels of kPanel = 8 output columns
// (zero-padded past n), each panel laid out as the kernels read it:
//   f32: [bias: 8 f32][k rows of 8 f32]                                   pack_f32_gemm
//   q8:  [bias: 8 f32][scale: 8 f32][ceil(k/2) pairs of rows: 16 int8]    pack_q8_gemm
// In a q8 pair, bytes 2c and 2c+1 hold column c's weights for k = 2p and 2p+1, so one
// i32x4.dot_i16x8_s of the widened weights against a splatted (a[2p], a[2p+1]) pair adds both
// products into column c's lane. W_real[c, k] = scale[c] * W_q8[c, k] (per output channel).
//
// A SIMD microkernel computes c[MR, nc] = act(a[MR, kc] · W + bias) for any nc, walking the
// panels from `w` onwards. It reads its MR input rows as one tile, interleaved so that all MR
// values of one step of k lie together (f32: tile[k * MR + i] = a[i, k], pack_f32_gemm_rows;
// q16: pairs of k, quantize_rows_q16): every input is then a constant offset from one pointer,
// which V8 folds into the load, where MR row pointers cost an address add per row and step
// (bench/wasm-probe, clip::Linear, 1 thread, the 3072-deep and 3072-wide ViT shapes: fused
// multiply-add 47-51 vs 44-46 GFLOP/s, multiply-then-add 43-45 vs 40; 768x768 and int8 about
// unchanged). The *__scalar kernels are the plain references the tests hold the SIMD ones to;
// they read mr rows `a_stride` apart. Strides are in elements.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/activation.h"

namespace clip::kernels {

constexpr int kPanel = 8;
// Tallest tile the operators use by default. Under wasm it is 4 x 8: 8 accumulators, 2 weight
// vectors, a splatted input and a product fit the 15 vector registers V8 allocates on x86-64,
// while taller tiles spill (measured under Node 20, f32: 4x8 46, 5x8 30, 6x8 29 GFLOP/s).
// Firefox's engine spills at 4 rows already and runs 3-row tiles faster (set_gemm_rows;
// js/src/engine.mjs).
// Natively (32 AVX-512 registers) 6 x 8 is faster: fewer instructions per multiply-add. The f32
// kernel for 2 rows works on two panels at once (2 x 16), so that it keeps 8 accumulators too.
// Tile heights change speed only: every output is summed in the same order whatever the tile.
#if defined(__wasm__)
constexpr int kDefaultGemmRows = 4;
#else
constexpr int kDefaultGemmRows = 6;
#endif
constexpr int kGemmKernelRows = 6;  // f32_gemm_kernel / q8_gemm_kernel accept mr up to this

// The tallest tile the operators use now: kDefaultGemmRows until set_gemm_rows() chose another.
int gemm_rows();
// Sets gemm_rows() for the engine the module runs in, 1 <= rows <= kGemmKernelRows (else it
// returns false and changes nothing). Call before any model work, as enable_relaxed_simd().
bool set_gemm_rows(int rows);

inline size_t gemm_panels(size_t n) {
  return (n + kPanel - 1) / kPanel;
}

// ---- f32 weights ----

// Floats pack_f32_gemm writes for an [n, k] weight.
inline size_t f32_gemm_packed_size(size_t n, size_t k) {
  return gemm_panels(n) * kPanel * (1 + k);
}
// weight: [n, k] with rows `stride` apart (PyTorch's Linear layout); bias: [n] or null.
void pack_f32_gemm(size_t n, size_t k, const float* weight, size_t stride, const float* bias,
                   float* packed);
// The same for a weight given transposed, as [k, n] with rows `stride` apart.
void pack_f32_gemm_kn(size_t k, size_t n, const float* weight, size_t stride, const float* bias,
                      float* packed);

// tile: mr rows of a (rows a_stride apart) interleaved as the mr-row kernels read them.
void pack_f32_gemm_rows(size_t mr, size_t k, const float* a, size_t a_stride, float* tile);

// a: the kernel's MR rows, packed by pack_f32_gemm_rows. While it computes, the kernel reads
// one byte of `ahead` at the start of every four steps of k, each `ahead_step` bytes after the
// last: at most ceil(nc / 8) * ceil(kc / 4) reads, all of which must be readable (step 0 reads
// one byte again and again). A caller points it at weights that later tiles will need, so that
// they arrive in cache while this tile is busy with weights already there: wasm has no prefetch
// instruction, and the hardware's prefetchers stop at every 4 KB page. Returns the bytes read,
// summed (so that no compiler drops the reads); callers ignore it.
using F32GemmFn = uint32_t(size_t nc, size_t kc, const float* a, const float* w, float* c,
                           size_t c_stride, Activation act, const uint8_t* ahead,
                           size_t ahead_step);
using F32GemmKernel = F32GemmFn*;
F32GemmFn f32_gemm_1x8__wasmsimd, f32_gemm_2x16__wasmsimd, f32_gemm_3x8__wasmsimd,
    f32_gemm_4x8__wasmsimd, f32_gemm_5x8__wasmsimd, f32_gemm_6x8__wasmsimd;
// The same with relaxed SIMD's fused multiply-add (wasm modules with relaxed SIMD patched in).
F32GemmFn f32_gemm_1x8__wasmrelaxedsimd, f32_gemm_2x16__wasmrelaxedsimd,
    f32_gemm_3x8__wasmrelaxedsimd, f32_gemm_4x8__wasmrelaxedsimd, f32_gemm_5x8__wasmrelaxedsimd,
    f32_gemm_6x8__wasmrelaxedsimd;
// Any mr; a: mr rows a_stride apart.
void f32_gemm__scalar(size_t mr, size_t nc, size_t kc, const float* a, size_t a_stride,
                      const float* w, float* c, size_t c_stride, Activation act);
// The SIMD kernel for tiles of mr rows, 1 <= mr <= kGemmKernelRows: a *__wasmrelaxedsimd one once
// enable_relaxed_simd() succeeded, else a *__wasmsimd one.
F32GemmKernel f32_gemm_kernel(size_t mr);
// Switches f32_gemm_kernel() to the relaxed-SIMD kernels after checking, on a small product,
// that they compute a * b + c (they do not where the engine was given the module without its
// relaxed instructions patched in). Call before any model work; returns whether it switched.
bool enable_relaxed_simd();

// ---- int8 weights, int16 activations ----

// Bytes pack_q8_gemm writes for an [n, k] weight.
inline size_t q8_gemm_packed_size(size_t n, size_t k) {
  return gemm_panels(n) * (2 * kPanel * sizeof(float) + kPanel * 2 * ((k + 1) / 2));
}
// Symmetric per-output-channel quantization: scale[c] = max|W[c, :]| / 127.
void pack_q8_gemm(size_t n, size_t k, const float* weight, const float* bias, int8_t* packed);

// Activations are quantized per row, symmetrically, to int16 in [-qmax, qmax], with qmax chosen
// so that a k-long sum of int16 x int8 products cannot overflow int32.
int q16_max_for_depth(size_t k);
// Row length of the quantized activations: k rounded up to the pair size (the pad is zero).
inline size_t q16_row_length(size_t k) {
  return (k + 1) / 2 * 2;
}
// Quantizes `rows` rows of x as one kernel input tile: q holds rows x q16_row_length(k) int16,
// pairs of k interleaved by row (q[(p * rows + r) * 2 + j] = round(x[r, 2p + j] / scale[r]),
// scale[r] = max|x[r, :]| / qmax; one row's tile is that row). A row holding a NaN or an infinity
// gets scale NaN and zeros, so that its GEMM outputs come out NaN as in f32.
void quantize_rows_q16__wasmsimd(size_t rows, size_t k, const float* x, size_t x_stride, int qmax,
                                 int16_t* q, float* scale);
void quantize_rows_q16__scalar(size_t rows, size_t k, const float* x, size_t x_stride, int qmax,
                               int16_t* q, float* scale);

// c = act(a_scale[row] * (a_q16 · W_q8) * w_scale[col] + bias); kc is the (even) q16 row length.
// a: the kernel's MR rows as quantize_rows_q16 writes them.
using Q8GemmFn = void(size_t nc, size_t kc, const int16_t* a, const float* a_scale, const int8_t* w,
                      float* c, size_t c_stride, Activation act);
using Q8GemmKernel = Q8GemmFn*;
Q8GemmFn q8_gemm_1x8__wasmsimd, q8_gemm_2x8__wasmsimd, q8_gemm_3x8__wasmsimd, q8_gemm_4x8__wasmsimd,
    q8_gemm_5x8__wasmsimd, q8_gemm_6x8__wasmsimd;
// Any mr; a: mr rows a_stride apart.
void q8_gemm__scalar(size_t mr, size_t nc, size_t kc, const int16_t* a, size_t a_stride,
                     const float* a_scale, const int8_t* w, float* c, size_t c_stride,
                     Activation act);
// The SIMD kernel for tiles of mr rows, 1 <= mr <= kGemmKernelRows.
Q8GemmKernel q8_gemm_kernel(size_t mr);

// ---- elementwise and row operations ----

// x[i] = act(x[i]).
void f32_vact__wasmsimd(size_t count, float* x, Activation act);
void f32_vact__scalar(size_t count, float* x, Activation act);

// y[r] = (x[r] - mean) / sqrt(var + eps) * gamma + beta for each of `rows` rows of `dim`.
void f32_layernorm__wasmsimd(size_t rows, size_t dim, const float* x, const float* gamma,
                             const float* beta, float eps, float* y);
void f32_layernorm__scalar(size_t rows, size_t dim, const float* x, const float* gamma,
                           const float* beta, float eps, float* y);

// In place, per row of x[rows, stride]: x[r, 0..n) = softmax(scale * x[r, 0..n)).
void f32_softmax__wasmsimd(size_t rows, size_t n, float scale, float* x, size_t stride);
void f32_softmax__scalar(size_t rows, size_t n, float scale, float* x, size_t stride);

// x[r] /= ||x[r]|| (left at zero when the row is zero).
void f32_l2norm__wasmsimd(size_t rows, size_t dim, float* x);

}  // namespace clip::kernels

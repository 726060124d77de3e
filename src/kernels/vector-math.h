// Elementwise math on f32x4 vectors, for the GEMM epilogues, softmax and activations. Written
// here because SIMD128 has no transcendental instructions and no library ships them for both
// wasm and x86 with the accuracy the f32 model needs (relative error ~1e-6, see kernels_test).
#pragma once

#include "kernels/activation.h"
#include "kernels/simd.h"

namespace clip::kernels {

// e^x. Range reduction x = n ln2 + r with |r| <= ln2/2 and a degree-7 Taylor polynomial (truncation
// below 5e-9 relative). Inputs are clamped to [-87.3, 88] so 2^n stays a normal float: results
// there are within the relative tolerance of the true value or below 1e-37, never inf or NaN.
// Written with the instructions x86 engines run as one each: pmin/pmax (the NaN-propagating
// min/max take seven under V8; a NaN input still comes out NaN, see kernels_test), and n rounded
// by adding 1.5 * 2^23, whose low mantissa bits then hold n as an integer (the same
// round-half-to-even as f32x4.nearest, and no float-to-int conversion, which takes five).
inline v128_t exp_f32x4(v128_t x) {
  x = wasm_f32x4_pmin(wasm_f32x4_pmax(x, wasm_f32x4_splat(-87.3f)), wasm_f32x4_splat(88.f));
  const v128_t magic = wasm_f32x4_splat(12582912.f);  // 1.5 * 2^23
  const v128_t shifted =
      wasm_f32x4_add(wasm_f32x4_mul(x, wasm_f32x4_splat(1.44269504088896341f)), magic);
  const v128_t n = wasm_f32x4_sub(shifted, magic);
  // ln2 split into a part exact in 16 bits and the rest, so n * ln2_hi is exact.
  v128_t r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, wasm_f32x4_splat(0.693145751953125f)));
  r = wasm_f32x4_sub(r, wasm_f32x4_mul(n, wasm_f32x4_splat(1.42860682030941723e-6f)));
  v128_t p = wasm_f32x4_splat(1.f / 5040.f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.f / 720.f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.f / 120.f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.f / 24.f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.f / 6.f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(0.5f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, r), wasm_f32x4_splat(1.f));
  // 2^n built directly in the exponent field: the shift drops the magic number's bits.
  const v128_t pow2n = wasm_i32x4_shl(wasm_i32x4_add(shifted, wasm_i32x4_splat(127)), 23);
  return wasm_f32x4_mul(p, pow2n);
}

// x * sigmoid(1.702 x), CLIP's "quick GELU".
inline v128_t quick_gelu_f32x4(v128_t x) {
  const v128_t e = exp_f32x4(wasm_f32x4_mul(x, wasm_f32x4_splat(-1.702f)));
  return wasm_f32x4_div(x, wasm_f32x4_add(wasm_f32x4_splat(1.f), e));
}

// erfc(z) for z >= 0 with relative error below ~2e-7 over the whole range (the Chebyshev-fitted
// form in Numerical Recipes, "erfcc"): relative accuracy in the tail is what keeps GELU of
// negative inputs accurate, where 1 + erf(x) would cancel.
inline v128_t erfc_nonneg_f32x4(v128_t z) {
  const v128_t t = wasm_f32x4_div(
      wasm_f32x4_splat(1.f),
      wasm_f32x4_add(wasm_f32x4_splat(1.f), wasm_f32x4_mul(z, wasm_f32x4_splat(0.5f))));
  v128_t p = wasm_f32x4_splat(0.17087277f);
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), wasm_f32x4_splat(-0.82215223f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), wasm_f32x4_splat(1.48851587f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), wasm_f32x4_splat(-1.13520398f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), wasm_f32x4_splat(0.27886807f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), wasm_f32x4_splat(-0.18628806f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), wasm_f32x4_splat(0.09678418f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), wasm_f32x4_splat(0.37409196f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), wasm_f32x4_splat(1.00002368f));
  p = wasm_f32x4_add(wasm_f32x4_mul(p, t), wasm_f32x4_splat(-1.26551223f));
  const v128_t e = exp_f32x4(wasm_f32x4_sub(p, wasm_f32x4_mul(z, z)));
  return wasm_f32x4_mul(t, e);
}

// x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), the exact-erf GELU (not the tanh form), with
// Phi(x) = 1 - erfc(z)/2 for x >= 0 and erfc(z)/2 for x < 0, z = |x| / sqrt 2.
inline v128_t gelu_f32x4(v128_t x) {
  const v128_t z = wasm_f32x4_mul(wasm_f32x4_abs(x), wasm_f32x4_splat(0.70710678118654752f));
  const v128_t half_erfc = wasm_f32x4_mul(erfc_nonneg_f32x4(z), wasm_f32x4_splat(0.5f));
  const v128_t phi =
      wasm_v128_bitselect(half_erfc, wasm_f32x4_sub(wasm_f32x4_splat(1.f), half_erfc),
                          wasm_f32x4_lt(x, wasm_f32x4_splat(0.f)));
  return wasm_f32x4_mul(x, phi);
}

inline v128_t activate_f32x4(v128_t x, Activation act) {
  switch (act) {
    case Activation::quick_gelu:
      return quick_gelu_f32x4(x);
    case Activation::gelu:
      return gelu_f32x4(x);
    case Activation::none:
      break;
  }
  return x;
}

}  // namespace clip::kernels

// The f32 GEMM kernels once more, with relaxed SIMD's f32x4.relaxed_madd (a * b + c, fused where
// the CPU has a fused multiply-add): half the instructions of the inner loop. Under emscripten
// this file alone is compiled with -mrelaxed-simd (CMakeLists.txt), and the module still loads
// on engines without relaxed SIMD (see tools/wasm-relaxed-opcodes.py); f32_gemm_kernel() hands
// these kernels out only after enable_relaxed_simd() succeeded. Natively they multiply, then add.
#include "kernels/f32-gemm-wasmsimd.h"
#include "kernels/kernels.h"

namespace clip::kernels {
namespace {

struct RelaxedMadd {
  static v128_t madd(v128_t a, v128_t b, v128_t c) {
#if defined(__wasm_relaxed_simd__)
    // Clang 14 names the instruction by the proposal's draft (arguments a, b, c in the order
    // of the standard a * b + c); the opcode is rewritten after linking.
    return reinterpret_cast<v128_t>(__builtin_wasm_fma_f32x4(
        reinterpret_cast<__f32x4>(a), reinterpret_cast<__f32x4>(b), reinterpret_cast<__f32x4>(c)));
#else
    return MulThenAdd::madd(a, b, c);
#endif
  }
};

}  // namespace

CLIP_F32_GEMM_MX8_KERNELS(wasmrelaxedsimd, RelaxedMadd)

}  // namespace clip::kernels

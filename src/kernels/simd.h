// One SIMD vocabulary for every kernel: WebAssembly SIMD128 intrinsics. Under emscripten they are
// the real instructions; natively simde maps them onto SSE/AVX, so the same source is tested and
// benchmarked on the host (CMake defines SIMDE_ENABLE_NATIVE_ALIASES for native builds).
#pragma once

#if defined(__wasm_simd128__)
#include <wasm_simd128.h>
#else
#ifndef SIMDE_ENABLE_NATIVE_ALIASES
#define SIMDE_ENABLE_NATIVE_ALIASES
#endif
#include <simde/wasm/simd128.h>
#endif

// Fully unrolls a loop over the rows of a register tile. Without it, a loop whose body is large
// (an activation) stays a loop, and the accumulator array it indexes is kept in memory instead
// of registers. Clang and GCC both read this pragma.
#define CLIP_UNROLL_ROWS _Pragma("GCC unroll 16")

// How the module runs fastest in this JavaScript engine, as measured on the project's x86-64
// machine (bench/README.md, In a browser). V8 (Node, Chromium) and JavaScriptCore (Safari, and
// every browser on iOS) take the defaults. Firefox's engine keeps fewer vectors in registers.

const firefox = /\bFirefox\//.test(globalThis.navigator?.userAgent ?? '');

// Whether the relaxed-SIMD kernels are the faster ones here. In V8 they are: f32 images 15-17%
// faster on one thread. In Firefox 153 ESR (3-row tiles) they are not: 207 against 198 ms on one
// thread, 116 against 113 on two. (JavaScriptCore has no relaxed SIMD.)
export const RELAXED_SIMD_FASTER = !firefox;

// The tallest GEMM row tile (kernels::set_gemm_rows); every height gives the same results. V8
// holds a 4-row tile in registers. f32 images on one thread: Firefox 153 ESR 232 ms with 4-row
// tiles, 198 with 3; V8 (Node 20, relaxed SIMD) 170 with 4, 208 with 3; WebKitGTK 2.50
// (JavaScriptCore) 184-191 with 4, 191-198 with 2 (int8 103-108 against 114-120).
export const GEMM_ROWS = firefox ? 3 : 4;

// How the module runs fastest in this JavaScript engine, as measured on the project's machine
// (bench/README.md, In a browser). V8 (Node, Chromium) is the default; Firefox's engine keeps
// fewer vectors in registers and runs the relaxed-SIMD kernels slower.

const firefox = /\bFirefox\//.test(globalThis.navigator?.userAgent ?? '');

// Whether the relaxed-SIMD kernels are the faster ones here. In V8 they are: f32 images 15-17%
// faster on one thread. In Firefox 153 ESR (3-row tiles) they are not: 207 against 198 ms on one
// thread, 116 against 113 on two.
export const RELAXED_SIMD_FASTER = !firefox;

// The tallest GEMM row tile (kernels::set_gemm_rows). V8 holds a 4-row tile in registers;
// Firefox's engine spills it: f32 images 232 ms with 4-row tiles against 198 ms with 3 (one
// thread, SIMD128; in V8, Node 20, relaxed SIMD: 170 against 208 ms).
export const GEMM_ROWS = firefox ? 3 : 4;

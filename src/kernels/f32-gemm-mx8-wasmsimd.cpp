// f32 GEMM kernels with register tiles of 1..6 rows x 8 columns and SIMD128's multiply, then add
// (no lanes are computed for nothing: each row count has its own full-tile kernel).
#include "kernels/f32-gemm-wasmsimd.h"
#include "kernels/kernels.h"

namespace clip::kernels {

CLIP_F32_GEMM_MX8_KERNELS(wasmsimd, MulThenAdd)

}  // namespace clip::kernels

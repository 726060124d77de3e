// f32 GEMM kernels with register tiles of 1..6 rows x 8 columns (one function per row count, so
// any row count is covered by full tiles and no lanes are computed for nothing).
#include "kernels/f32-gemm-wasmsimd.h"
#include "kernels/kernels.h"

namespace clip::kernels {

#define CLIP_F32_GEMM_MX8(M)                                                                  \
  void f32_gemm_##M##x8__wasmsimd(size_t mr, size_t nc, size_t kc, const float* a,            \
                                  size_t a_stride, const float* w, float* c, size_t c_stride, \
                                  Activation act) {                                           \
    f32_gemm_mx8<M, MulThenAdd>(mr, nc, kc, a, a_stride, w, c, c_stride, act);                \
  }
CLIP_F32_GEMM_MX8(1)
CLIP_F32_GEMM_MX8(2)
CLIP_F32_GEMM_MX8(3)
CLIP_F32_GEMM_MX8(4)
CLIP_F32_GEMM_MX8(5)
CLIP_F32_GEMM_MX8(6)
#undef CLIP_F32_GEMM_MX8

}  // namespace clip::kernels

// int8-weight GEMM kernels with register tiles of 1..6 rows x 8 columns.
#include "kernels/kernels.h"
#include "kernels/q8-gemm-wasmsimd.h"

namespace clip::kernels {

#define CLIP_Q8_GEMM_MX8(M)                                                                    \
  void q8_gemm_##M##x8__wasmsimd(size_t nc, size_t kc, const int16_t* a, const float* a_scale, \
                                 const int8_t* w, float* c, size_t c_stride, Activation act) { \
    q8_gemm_mx8<M>(nc, kc, a, a_scale, w, c, c_stride, act);                                   \
  }
CLIP_Q8_GEMM_MX8(1)
CLIP_Q8_GEMM_MX8(2)
CLIP_Q8_GEMM_MX8(3)
CLIP_Q8_GEMM_MX8(4)
CLIP_Q8_GEMM_MX8(5)
CLIP_Q8_GEMM_MX8(6)
#undef CLIP_Q8_GEMM_MX8

}  // namespace clip::kernels

// Reference in-place activation.
#include "kernels/kernels.h"
#include "kernels/scalar-activation.h"

namespace clip::kernels {

void f32_vact__scalar(size_t count, float* x, Activation act) {
  for (size_t i = 0; i < count; ++i) x[i] = activate_scalar(x[i], act);
}

}  // namespace clip::kernels

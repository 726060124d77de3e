// Scalar activations with the standard library's exp and erf: the reference the vector versions
// are measured against.
#pragma once

#include <cmath>

#include "kernels/activation.h"

namespace clip::kernels {

inline float activate_scalar(float x, Activation act) {
  switch (act) {
    case Activation::quick_gelu:
      return x / (1.f + std::exp(-1.702f * x));
    case Activation::gelu:
      // erfc rather than 1 + erf: no cancellation for negative x.
      return 0.5f * x * std::erfc(x * -0.70710678118654752f);
    case Activation::none:
      break;
  }
  return x;
}

}  // namespace clip::kernels

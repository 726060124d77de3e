// The activations a GEMM epilogue can apply. Shared by the operators (ops.h) and the kernels.
#pragma once

namespace clip {

enum class Activation { none, quick_gelu, gelu };

}  // namespace clip

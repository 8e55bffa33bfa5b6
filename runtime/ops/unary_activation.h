// Relu, LeakyRelu, Clip, Sigmoid, HardSigmoid and HardSwish as standalone ops. The float math is
// Activation's (activation.h), shared with Conv/Gemm's fused activations so both agree exactly.
#pragma once

#include <cstdint>

#include "runtime/ops/activation.h"
#include "runtime/ops/ops.h"

namespace cleave {

// out[i] = activation(in[i]) for i < n; in and out may be the same buffer.
void applyActivation(const Activation& activation, const float* in, float* out, int64_t n);

}  // namespace cleave

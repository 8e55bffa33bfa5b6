// BatchNormalization (ONNX opsets 11-17), inference form only: Y = (X - mean) / sqrt(var + eps)
// * scale + B per channel (axis 1), X of any rank >= 2. Training mode is rejected.
#pragma once

#include <vector>

#include "runtime/op.h"

namespace cleave {

// The per-channel affine form y = x * multiplier + offset; BatchNorm folding into Conv uses it.
struct BatchNormAffine {
  std::vector<float> multiplier, offset;
};

BatchNormAffine batchNormAffine(const float* scale, const float* bias, const float* mean, const float* var,
                                int64_t channels, float epsilon);

}  // namespace cleave

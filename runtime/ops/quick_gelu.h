// QuickGelu (ONNX Runtime's com.microsoft contrib op): y = x * sigmoid(alpha * x). With
// alpha = 1 it is SiLU (Swish), which EfficientNet and the MobileNetV3 family use after most
// convolutions; torchvision exports it as Sigmoid and Mul, and passes/fuse_silu makes it this
// one op, a single pass over memory instead of three.
#pragma once

#include <cstdint>

namespace cleave {

// ONNX Runtime's default for the attribute (GELU's approximation); SiLU is alpha = 1.
constexpr float QUICK_GELU_DEFAULT_ALPHA = 1.702f;

// y[i] = x[i] * sigmoid(alpha * x[i]) for n values; in and out may be the same array. Within
// 4 float ulps of the exact function (quick_gelu_test checks it against double precision).
void quickGelu(const float* in, float* out, int64_t n, float alpha);
// The plain loop (GCC vectorises it for any target); quickGelu takes a faster kernel where the
// CPU has one (AVX-512: no division).
void quickGeluPortable(const float* in, float* out, int64_t n, float alpha);

}  // namespace cleave

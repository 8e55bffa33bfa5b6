// Pointwise activations shared by the activation ops and by Conv/Gemm with a fused activation.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/result.h"

namespace cleave {

struct Activation {
  enum class Kind : uint8_t { None, Relu, LeakyRelu, Clip, Sigmoid, HardSigmoid, HardSwish };
  Kind kind = Kind::None;
  float alpha = 0.0f;  // LeakyRelu slope, Clip min, HardSigmoid alpha
  float beta = 0.0f;   // Clip max, HardSigmoid beta

  // From an ONNX op name (as written in FusedConv's `activation` attribute) and its params
  // ([alpha] for LeakyRelu, [min, max] for Clip, [alpha, beta] for HardSigmoid).
  static Result<Activation> fromName(const std::string& name, const std::vector<float>& params);
  std::string name() const;
  std::vector<float> params() const;

  float apply(float x) const {
    switch (kind) {
      case Kind::None: return x;
      case Kind::Relu: return x > 0.0f ? x : 0.0f;
      case Kind::LeakyRelu: return x >= 0.0f ? x : alpha * x;
      case Kind::Clip: return std::min(std::max(x, alpha), beta);
      case Kind::Sigmoid: return 1.0f / (1.0f + std::exp(-x));
      case Kind::HardSigmoid: return std::max(0.0f, std::min(1.0f, alpha * x + beta));
      case Kind::HardSwish: return x * std::max(0.0f, std::min(1.0f, x / 6.0f + 0.5f));
    }
    return x;
  }

  // In place over n values; the common kinds are written as simple loops the compiler vectorises.
  void applyInPlace(float* data, int64_t n) const {
    switch (kind) {
      case Kind::None: return;
      case Kind::Relu:
        for (int64_t i = 0; i < n; ++i) data[i] = std::max(data[i], 0.0f);
        return;
      case Kind::Clip:
        for (int64_t i = 0; i < n; ++i) data[i] = std::min(std::max(data[i], alpha), beta);
        return;
      case Kind::LeakyRelu:
        for (int64_t i = 0; i < n; ++i) data[i] = data[i] >= 0.0f ? data[i] : alpha * data[i];
        return;
      case Kind::HardSigmoid:
        for (int64_t i = 0; i < n; ++i) data[i] = std::max(0.0f, std::min(1.0f, alpha * data[i] + beta));
        return;
      case Kind::HardSwish:
        for (int64_t i = 0; i < n; ++i) data[i] = data[i] * std::max(0.0f, std::min(1.0f, data[i] / 6.0f + 0.5f));
        return;
      default:
        for (int64_t i = 0; i < n; ++i) data[i] = apply(data[i]);
    }
  }
};

}  // namespace cleave

#include "agent/exit_rule.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace cleave::agent {

Result<float> maxSoftmax(const Tensor& scores) {
  if (scores.dtype() != DType::F32) return Error{"exit scores are not float32"};
  const std::span<const float> s = scores.values<float>();
  if (s.size() < 2) return Error{fmt::format("exit scores have {} values; a class needs rivals", s.size())};
  if (!std::all_of(s.begin(), s.end(), [](float v) { return std::isfinite(v); }))
    return Error{"exit scores are not all finite"};
  const float top = *std::max_element(s.begin(), s.end());
  float sum = 0.0f;
  for (float v : s) sum += std::exp(v - top);
  return 1.0f / sum;
}

Result<bool> exitsHere(const Tensor& scores, float threshold) {
  Result<float> confidence = maxSoftmax(scores);
  if (!confidence) return confidence.error();
  return *confidence >= threshold;
}

}  // namespace cleave::agent

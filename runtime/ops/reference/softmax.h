// Reference softmax over the [outer, axis, inner] view, in double.
#pragma once

#include <cmath>
#include <vector>

#include "runtime/ops/softmax.h"

namespace cleave::reference {

inline void softmax(const SoftmaxShape& s, const float* in, float* out) {
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t i = 0; i < s.inner; ++i) {
      auto at = [&](int64_t a) { return (o * s.axis + a) * s.inner + i; };
      double max = -INFINITY, sum = 0.0;
      for (int64_t a = 0; a < s.axis; ++a) max = std::max(max, static_cast<double>(in[at(a)]));
      for (int64_t a = 0; a < s.axis; ++a) sum += std::exp(static_cast<double>(in[at(a)]) - max);
      for (int64_t a = 0; a < s.axis; ++a) out[at(a)] = static_cast<float>(std::exp(static_cast<double>(in[at(a)]) - max) / sum);
    }
}

}  // namespace cleave::reference

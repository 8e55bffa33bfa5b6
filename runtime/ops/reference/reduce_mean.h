// Reference ReduceMean: every input element adds into the output at its coordinates with the
// reduced axes zeroed, in double; then each output is divided by the reduced count.
#pragma once

#include <vector>

#include "runtime/tensor.h"

namespace cleave::reference {

inline void reduceMean(const Tensor& in, const std::vector<bool>& reducedAxes, Tensor& out) {
  const Shape& shape = in.shape();
  std::vector<double> sums(static_cast<size_t>(out.numel()), 0.0);
  int64_t count = 1;
  for (size_t d = 0; d < shape.size(); ++d)
    if (reducedAxes[d]) count *= shape[d];
  for (int64_t i = 0; i < in.numel(); ++i) {
    int64_t rest = i, outIndex = 0, outStride = 1;
    for (size_t d = shape.size(); d-- > 0;) {
      int64_t coord = rest % shape[d];
      rest /= shape[d];
      if (!reducedAxes[d]) {
        outIndex += coord * outStride;
        outStride *= shape[d];
      }
    }
    sums[static_cast<size_t>(outIndex)] += static_cast<double>(in.data<float>()[i]);
  }
  for (size_t i = 0; i < sums.size(); ++i) out.data<float>()[i] = static_cast<float>(sums[i] / static_cast<double>(count));
}

}  // namespace cleave::reference

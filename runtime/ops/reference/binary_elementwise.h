// Reference broadcast binary op: for every output element, map its coordinates back to each
// input (index 0 along broadcast dims). Slow and obviously correct; tests compare the fast
// kernel against it.
#pragma once

#include "runtime/ops/binary_elementwise.h"
#include "runtime/tensor.h"

namespace cleave::reference {

template <class T>
void binaryElementwise(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  const Shape& shape = out.shape();
  size_t rank = shape.size();
  auto inputIndex = [&](const Shape& in, const std::vector<int64_t>& coord) {
    int64_t index = 0;
    size_t offset = rank - in.size();
    for (size_t d = 0; d < in.size(); ++d) index = index * in[d] + (in[d] == 1 ? 0 : coord[d + offset]);
    return index;
  };
  std::vector<int64_t> coord(rank, 0);
  for (int64_t i = 0; i < out.numel(); ++i) {
    int64_t rest = i;
    for (size_t d = rank; d-- > 0;) {
      coord[d] = rest % shape[d];
      rest /= shape[d];
    }
    out.data<T>()[i] = applyBinaryOp<T>(op, a.data<T>()[inputIndex(a.shape(), coord)],
                                        b.data<T>()[inputIndex(b.shape(), coord)]);
  }
}

}  // namespace cleave::reference

// Reference Transpose: one element at a time, output index -> input index. Slow and obvious; the
// fast kernel is tested against it.
#pragma once

#include <cstring>
#include <span>

#include "runtime/tensor.h"

namespace cleave::reference {

inline void transpose(const Tensor& in, std::span<const int64_t> perm, Tensor& out) {
  size_t rank = perm.size();
  size_t es = dtypeSize(in.dtype());
  std::vector<int64_t> index(rank);
  for (int64_t o = 0; o < out.numel(); ++o) {
    int64_t rest = o;
    for (size_t k = rank; k-- > 0;) {
      index[k] = rest % out.dim(k);
      rest /= out.dim(k);
    }
    // Output dimension k is input dimension perm[k].
    int64_t i = 0;
    std::vector<int64_t> inIndex(rank);
    for (size_t k = 0; k < rank; ++k) inIndex[static_cast<size_t>(perm[k])] = index[k];
    for (size_t k = 0; k < rank; ++k) i = i * in.dim(k) + inIndex[k];
    std::memcpy(out.raw() + o * static_cast<int64_t>(es), in.raw() + i * static_cast<int64_t>(es), es);
  }
}

}  // namespace cleave::reference

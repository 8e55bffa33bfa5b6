// Reference Slice: one element at a time, input index = start + i * step per dimension.
#pragma once

#include <cstring>
#include <span>

#include "runtime/ops/slice.h"
#include "runtime/tensor.h"

namespace cleave::reference {

inline void slice(const Tensor& in, std::span<const SliceAxis> plan, Tensor& out) {
  size_t rank = plan.size();
  size_t es = dtypeSize(in.dtype());
  for (int64_t o = 0; o < out.numel(); ++o) {
    int64_t rest = o, i = 0, scale = 1;
    for (size_t k = rank; k-- > 0;) {
      int64_t index = rest % out.dim(k);
      rest /= out.dim(k);
      i += (plan[k].start + index * plan[k].step) * scale;
      scale *= in.dim(k);
    }
    std::memcpy(out.raw() + o * static_cast<int64_t>(es), in.raw() + i * static_cast<int64_t>(es), es);
  }
}

}  // namespace cleave::reference

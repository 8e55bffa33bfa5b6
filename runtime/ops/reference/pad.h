// Reference constant Pad: each output element is either the input element it maps to
// (output index - begin pad) or the pad value.
#pragma once

#include <cstring>
#include <span>

#include "runtime/tensor.h"

namespace cleave::reference {

inline void pad(const Tensor& in, std::span<const int64_t> pads, const std::byte* value, Tensor& out) {
  size_t rank = in.rank();
  size_t es = dtypeSize(in.dtype());
  for (int64_t o = 0; o < out.numel(); ++o) {
    int64_t rest = o, i = 0, scale = 1;
    bool inside = true;
    for (size_t k = rank; k-- > 0;) {
      int64_t index = rest % out.dim(k) - pads[k];
      rest /= out.dim(k);
      inside = inside && index >= 0 && index < in.dim(k);
      i += index * scale;
      scale *= in.dim(k);
    }
    std::memcpy(out.raw() + o * static_cast<int64_t>(es), inside ? in.raw() + i * static_cast<int64_t>(es) : value, es);
  }
}

}  // namespace cleave::reference

// Softmax. From opset 13 it normalises along one axis; before 13 it flattens the input to 2D at
// `axis` ([prod(dims < axis), prod(dims >= axis)]) and normalises each row. Both reduce to an
// [outer, axis, inner] view. Numerically stable: each slice's max is subtracted before exp.
#pragma once

#include <cstdint>

#include "runtime/ops/ops.h"

namespace cleave {

struct SoftmaxShape {
  int64_t outer = 1;
  int64_t axis = 1;  // length of the normalised axis
  int64_t inner = 1;
};

// Softmax over slices [outerBegin, outerEnd) of the [outer, axis, inner] view.
void softmax(const SoftmaxShape& s, const float* in, float* out, int64_t outerBegin, int64_t outerEnd);

}  // namespace cleave

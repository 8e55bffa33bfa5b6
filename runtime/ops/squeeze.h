// Squeeze and Unsqueeze: views that remove or insert dimensions of size 1. From opset 13 the axes
// come from an input (which must be constant), before that from the `axes` attribute.
#pragma once

#include <vector>

#include "runtime/ops/ops.h"

namespace cleave {

// Output shape of Squeeze; no axes removes every dimension of size 1.
Result<Shape> squeezeShape(const Shape& input, const std::optional<std::vector<int64_t>>& axes);
// Output shape of Unsqueeze; axes index the output and may be negative or unsorted.
Result<Shape> unsqueezeShape(const Shape& input, const std::vector<int64_t>& axes);

}  // namespace cleave

// Reshape: a view of the input with a new shape given by a constant shape input (cleave needs
// static shapes). 0 copies the input's dimension unless allowzero=1; one -1 is inferred.
#pragma once

#include <vector>

#include "runtime/ops/ops.h"

namespace cleave {

// The output shape of Reshape for `target` (the shape input's values) under ONNX's rules.
Result<Shape> reshapeShape(const Shape& input, const std::vector<int64_t>& target, bool allowZero);

}  // namespace cleave

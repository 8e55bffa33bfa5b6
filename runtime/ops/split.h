// Split: cuts the input along one axis into the node's outputs, by given sizes (the constant
// `split` input from opset 13, the attribute before) or into equal parts.
#pragma once

#include <vector>

#include "runtime/ops/ops.h"

namespace cleave {

// Sizes of `outputs` parts of a dimension of size `dim`. `split` when given must have one
// non-negative entry per output summing to dim; otherwise dim is split equally (error when it
// does not divide), or, with `numOutputs` (opset 18), in ceil(dim/n) parts with a smaller last one.
Result<std::vector<int64_t>> splitSizes(int64_t dim, size_t outputs, const std::optional<std::vector<int64_t>>& split,
                                        bool ceilParts = false);

}  // namespace cleave

// Flatten: a view of the input as 2-D, [prod(dims before axis), prod(dims from axis)].
#pragma once

#include "runtime/ops/ops.h"

namespace cleave {

// Output shape of Flatten; axis may be in [-rank, rank].
Result<Shape> flattenShape(const Shape& input, int64_t axis);

}  // namespace cleave

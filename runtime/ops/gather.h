// Gather: picks slices of `data` along `axis` by int32/int64 indices (negative counts from the
// end). Constant indices are range-checked at prepare; run-time ones are checked by the kernel,
// which writes zeros for an out-of-range index instead of reading outside the data.
#pragma once

#include "runtime/op.h"
#include "runtime/ops/ops.h"

namespace cleave {

// out = data.shape[:axis] + indices.shape + data.shape[axis+1:], axis already normalised.
void gather(const Tensor& data, const Tensor& indices, size_t axis, Tensor& out, const RunContext& ctx);

}  // namespace cleave

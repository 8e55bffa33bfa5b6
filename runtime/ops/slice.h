// Slice: a strided box of the input. Starts, ends, axes and steps are constant inputs from
// opset 10 (attributes before); indices follow ONNX: negative counts from the end, out-of-range
// values clamp, INT64_MAX/INT64_MIN work as "to the end", and steps may be negative.
#pragma once

#include <span>
#include <vector>

#include "runtime/op.h"
#include "runtime/ops/ops.h"

namespace cleave {

// What Slice takes from one input dimension: `count` elements from `start`, `step` apart.
struct SliceAxis {
  int64_t start = 0;
  int64_t step = 1;
  int64_t count = 0;
};

// One SliceAxis per input dimension (untouched ones take everything). axes and steps may be
// empty (all axes in order, steps of 1).
Result<std::vector<SliceAxis>> slicePlan(const Shape& input, const std::vector<int64_t>& starts,
                                         const std::vector<int64_t>& ends, const std::vector<int64_t>& axes,
                                         const std::vector<int64_t>& steps);
// The plan of a Slice node, from its constant inputs (opset 10+) or attributes (before).
Result<std::vector<SliceAxis>> slicePlanOf(const NodeContext& ctx);
// Fast kernel; `out`'s shape is the plan's counts.
void slice(const Tensor& in, std::span<const SliceAxis> plan, Tensor& out, const RunContext& ctx);

}  // namespace cleave

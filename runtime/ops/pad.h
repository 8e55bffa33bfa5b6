// Pad, constant mode: the input surrounded by a constant (0 by default); negative pads crop.
// Pads and axes are constant inputs from opset 11 (attributes before). reflect/edge/wrap modes
// are not supported and fail at prepare.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include "runtime/op.h"
#include "runtime/ops/ops.h"

namespace cleave {

// Output shape for ONNX pads [begin_0..begin_{r-1}, end_0..end_{r-1}]; error on a negative size.
Result<Shape> padShape(const Shape& input, std::span<const int64_t> pads);
// Fast kernel: fills `out` with the element at `value` (in's dtype) and copies the part of `in`
// the pads keep.
void pad(const Tensor& in, std::span<const int64_t> pads, const std::byte* value, Tensor& out, const RunContext& ctx);

}  // namespace cleave

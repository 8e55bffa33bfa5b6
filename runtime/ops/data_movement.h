// Helpers shared by the shape and data-movement ops (Reshape, Transpose, Slice, Pad, Concat...):
// reading shape-like inputs that must be constant, and copying strided boxes of elements of any
// dtype, which is all those kernels do once prepare has worked out the index arithmetic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "runtime/op.h"
#include "runtime/tensor.h"

namespace cleave {

// The contents of input `input`, which must be present, known at prepare time and int32/int64.
// cleave plans with static shapes, so shape-like inputs (Reshape's shape, Slice's starts...)
// cannot be run-time values; the error says so and names the input as `what`.
Result<std::vector<int64_t>> constantInts(const NodeContext& ctx, size_t input, std::string_view what);

// Like constantInts, but an omitted input gives nullopt instead of an error.
Result<std::optional<std::vector<int64_t>>> optionalConstantInts(const NodeContext& ctx, size_t input,
                                                                  std::string_view what);

// Copies `in` into `out` (same byte count) unless the executor already made them share storage,
// which it may do for view-like ops (PreparedNode::aliasesInput).
void copyIfDistinct(const Tensor& in, Tensor& out);

// A prepared view-like node (Reshape, Flatten, Squeeze...): output 0 has `dtype` and `shape` and
// the same bytes as input 0, so it may alias it; the kernel copies when it does run.
PreparedNode viewNode(DType dtype, Shape shape);

// A node whose single output is `value`, known at prepare time (Constant, Shape, ConstantOfShape);
// the kernel copies it for when the node does run.
PreparedNode constantNode(Tensor value);

// Row-major strides, in elements, of a shape.
std::vector<int64_t> contiguousStrides(const Shape& shape);

// For every index i of `shape`: dst[sum i_k*dstStrides_k] = src[sum i_k*srcStrides_k], strides in
// elements of `elemSize` bytes. Dimensions that are contiguous in both are merged first, rows
// contiguous in both go through memcpy, and a box whose last two dimensions are swapped (the
// NCHW<->NHWC transposes) is copied in cache-sized tiles. src and dst must not overlap.
void copyStrided(const std::byte* src, std::byte* dst, size_t elemSize, const Shape& shape,
                 std::span<const int64_t> srcStrides, std::span<const int64_t> dstStrides,
                 const RunContext& ctx);

// Fills `count` elements of `elemSize` bytes at dst with the element at `value`.
void fillElements(std::byte* dst, int64_t count, const std::byte* value, size_t elemSize);

}  // namespace cleave

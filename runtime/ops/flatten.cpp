#include "runtime/ops/flatten.h"

#include <fmt/format.h>

#include "runtime/ops/data_movement.h"

namespace cleave {

Result<Shape> flattenShape(const Shape& input, int64_t axis) {
  int64_t rank = static_cast<int64_t>(input.size());
  // Unlike most axes, Flatten's may equal the rank (everything goes to the outer dimension).
  if (axis < -rank || axis > rank) return Error{fmt::format("axis {} out of range for rank {}", axis, rank)};
  if (axis < 0) axis += rank;
  Shape out = {1, 1};
  for (int64_t k = 0; k < rank; ++k) out[k < axis ? 0 : 1] *= input[static_cast<size_t>(k)];
  return out;
}

Result<PreparedNode> prepareFlatten(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 1, 1));
  Result<int64_t> axis = ctx.attributes().getInt("axis", 1);
  if (!axis) return ctx.error(axis.error().message);
  Result<Shape> shape = flattenShape(ctx.input(0).shape, *axis);
  if (!shape) return ctx.error(shape.error().message);
  return viewNode(ctx.input(0).dtype, std::move(shape).value());
}

}  // namespace cleave

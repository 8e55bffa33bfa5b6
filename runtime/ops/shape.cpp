#include "runtime/ops/shape.h"

#include <algorithm>

#include <fmt/format.h>

#include "runtime/ops/data_movement.h"

namespace cleave {

Result<PreparedNode> prepareShape(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 1, 1));
  const Shape& shape = ctx.input(0).shape;
  int64_t rank = static_cast<int64_t>(shape.size());
  Result<int64_t> start = ctx.attributes().getInt("start", 0);
  if (!start) return ctx.error(start.error().message);
  Result<int64_t> end = ctx.attributes().getInt("end", rank);
  if (!end) return ctx.error(end.error().message);
  // Negative counts from the back; both then clamp to [0, rank] (adding rank cannot overflow).
  int64_t first = std::clamp<int64_t>(*start < 0 ? *start + rank : *start, 0, rank);
  int64_t last = std::clamp<int64_t>(*end < 0 ? *end + rank : *end, 0, rank);
  std::vector<int64_t> dims(shape.begin() + first, shape.begin() + std::max(first, last));
  Tensor value = Tensor::fromVector<int64_t>({static_cast<int64_t>(dims.size())}, dims);

  return constantNode(std::move(value));
}

}  // namespace cleave

#include "runtime/ops/squeeze.h"

#include <fmt/format.h>

#include "runtime/ops/data_movement.h"

namespace cleave {
namespace {

// Normalised axes against `rank`, each at most once, as a per-dimension mask.
Result<std::vector<bool>> axisMask(const std::vector<int64_t>& axes, size_t rank) {
  std::vector<bool> mask(rank, false);
  int64_t r = static_cast<int64_t>(rank);
  for (int64_t axis : axes) {
    if (axis < -r || axis >= r) return Error{fmt::format("axis {} out of range for rank {}", axis, rank)};
    size_t k = static_cast<size_t>(axis < 0 ? axis + r : axis);
    if (mask[k]) return Error{fmt::format("axis {} given more than once", axis)};
    mask[k] = true;
  }
  return mask;
}

// The axes from the opset-13 input or the older attribute; nullopt when neither is given.
Result<std::optional<std::vector<int64_t>>> readAxes(const NodeContext& ctx) {
  if (ctx.opset >= 13) {
    CLEAVE_TRY(requireInputCount(ctx, 1, 2));
    return optionalConstantInts(ctx, 1, "axes");
  }
  CLEAVE_TRY(requireInputCount(ctx, 1, 1));
  if (!ctx.attributes().has("axes")) return std::optional<std::vector<int64_t>>{};
  Result<std::vector<int64_t>> axes = ctx.attributes().getInts("axes", {});
  if (!axes) return ctx.error(axes.error().message);
  return std::optional<std::vector<int64_t>>{std::move(axes).value()};
}

}  // namespace

Result<Shape> squeezeShape(const Shape& input, const std::optional<std::vector<int64_t>>& axes) {
  Shape out;
  if (!axes) {
    for (int64_t d : input)
      if (d != 1) out.push_back(d);
    return out;
  }
  Result<std::vector<bool>> mask = axisMask(*axes, input.size());
  if (!mask) return mask.error();
  for (size_t k = 0; k < input.size(); ++k) {
    if (!(*mask)[k]) {
      out.push_back(input[k]);
    } else if (input[k] != 1) {
      return Error{fmt::format("cannot squeeze axis {} of shape {}: its size is {}, not 1", k, shapeString(input),
                               input[k])};
    }
  }
  return out;
}

Result<Shape> unsqueezeShape(const Shape& input, const std::vector<int64_t>& axes) {
  Result<std::vector<bool>> mask = axisMask(axes, input.size() + axes.size());
  if (!mask) return mask.error();
  Shape out;
  size_t next = 0;
  for (bool inserted : *mask) out.push_back(inserted ? 1 : input[next++]);
  return out;
}

Result<PreparedNode> prepareSqueeze(const NodeContext& ctx) {
  Result<std::optional<std::vector<int64_t>>> axes = readAxes(ctx);
  if (!axes) return axes.error();
  Result<Shape> shape = squeezeShape(ctx.input(0).shape, *axes);
  if (!shape) return ctx.error(shape.error().message);
  return viewNode(ctx.input(0).dtype, std::move(shape).value());
}

Result<PreparedNode> prepareUnsqueeze(const NodeContext& ctx) {
  Result<std::optional<std::vector<int64_t>>> axes = readAxes(ctx);
  if (!axes) return axes.error();
  if (!*axes) return ctx.error(ctx.opset >= 13 ? "axes input (input 1) is required" : "attribute 'axes' is required");
  Result<Shape> shape = unsqueezeShape(ctx.input(0).shape, **axes);
  if (!shape) return ctx.error(shape.error().message);
  return viewNode(ctx.input(0).dtype, std::move(shape).value());
}

}  // namespace cleave

#include "runtime/ops/reshape.h"

#include <fmt/format.h>

#include "runtime/ops/data_movement.h"

namespace cleave {

Result<Shape> reshapeShape(const Shape& input, const std::vector<int64_t>& target, bool allowZero) {
  Shape out(target.size());
  std::optional<size_t> inferred;
  int64_t known = 1;
  bool hasZero = false;
  for (size_t k = 0; k < target.size(); ++k) {
    int64_t d = target[k];
    if (d == -1) {
      if (inferred) return Error{fmt::format("shape {} has more than one -1", shapeString(target))};
      inferred = k;
      continue;
    }
    if (d < -1) return Error{fmt::format("shape {} has a negative dimension {}", shapeString(target), d)};
    if (d == 0 && !allowZero) {
      if (k >= input.size())
        return Error{fmt::format("shape {} copies dimension {} with 0, but the input {} has rank {}",
                                 shapeString(target), k, shapeString(input), input.size())};
      d = input[k];
    } else if (d == 0) {
      hasZero = true;
    }
    out[k] = d;
    if (d != 0 && known > INT64_MAX / d)
      return Error{fmt::format("shape {} has too many elements", shapeString(target))};
    known *= d;
  }
  int64_t numel = shapeNumel(input);
  if (inferred) {
    if (hasZero) return Error{fmt::format("shape {} has both -1 and a literal 0 (allowzero=1)", shapeString(target))};
    if (known == 0 || numel % known != 0)
      return Error{fmt::format("cannot reshape {} ({} elements) to {}: -1 cannot be inferred", shapeString(input),
                               numel, shapeString(target))};
    out[*inferred] = numel / known;
  } else if (known != numel) {
    return Error{fmt::format("cannot reshape {} ({} elements) to {} ({} elements)", shapeString(input), numel,
                             shapeString(out), known)};
  }
  return out;
}

Result<PreparedNode> prepareReshape(const NodeContext& ctx) {
  std::vector<int64_t> target;
  if (ctx.opset < 5) {  // Reshape-1 carried the shape as an attribute
    CLEAVE_TRY(requireInputCount(ctx, 1, 1));
    Result<std::vector<int64_t>> attr = ctx.attributes().getInts("shape", {});
    if (!attr) return ctx.error(attr.error().message);
    target = std::move(attr).value();
  } else {
    CLEAVE_TRY(requireInputCount(ctx, 2, 2));
    if (ctx.input(1).shape.size() != 1)
      return ctx.error(fmt::format("shape input must be 1-D, got shape {}", shapeString(ctx.input(1).shape)));
    Result<std::vector<int64_t>> values = constantInts(ctx, 1, "shape");
    if (!values) return values.error();
    target = std::move(values).value();
  }
  Result<int64_t> allowZero = ctx.attributes().getInt("allowzero", 0);
  if (!allowZero) return ctx.error(allowZero.error().message);
  Result<Shape> shape = reshapeShape(ctx.input(0).shape, target, *allowZero != 0);
  if (!shape) return ctx.error(shape.error().message);
  return viewNode(ctx.input(0).dtype, std::move(shape).value());
}

}  // namespace cleave

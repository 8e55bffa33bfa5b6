#include "runtime/ops/pad.h"

#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>

#include "runtime/ops/cast.h"
#include "runtime/ops/data_movement.h"

namespace cleave {

Result<Shape> padShape(const Shape& input, std::span<const int64_t> pads) {
  size_t rank = input.size();
  if (pads.size() != 2 * rank)
    return Error{fmt::format("pads has {} values, expected {} for rank {}", pads.size(), 2 * rank, rank)};
  Shape out(rank);
  for (size_t k = 0; k < rank; ++k) {
    int64_t begin = pads[k], end = pads[k + rank];
    // Bound the pads so the sum cannot overflow; no real tensor is anywhere near this size.
    constexpr int64_t LIMIT = int64_t{1} << 40;
    if (begin > LIMIT || begin < -LIMIT || end > LIMIT || end < -LIMIT)
      return Error{fmt::format("pads [{}] are out of range", fmt::join(pads, ","))};
    out[k] = input[k] + begin + end;
    if (out[k] < 0)
      return Error{fmt::format("pads [{}] crop more than dimension {} of shape {} holds", fmt::join(pads, ","), k,
                               shapeString(input))};
  }
  return out;
}

void pad(const Tensor& in, std::span<const int64_t> pads, const std::byte* value, Tensor& out, const RunContext& ctx) {
  size_t rank = in.rank();
  size_t es = dtypeSize(in.dtype());
  fillElements(out.raw(), out.numel(), value, es);
  // The kept box: skip what negative pads crop from the input, offset by positive pads.
  Shape box(rank);
  int64_t srcOffset = 0, dstOffset = 0;
  std::vector<int64_t> inStrides = contiguousStrides(in.shape()), outStrides = contiguousStrides(out.shape());
  for (size_t k = 0; k < rank; ++k) {
    int64_t begin = pads[k], end = pads[k + rank];
    int64_t srcStart = std::max<int64_t>(0, -begin);
    box[k] = std::max<int64_t>(0, in.dim(k) - srcStart - std::max<int64_t>(0, -end));
    srcOffset += srcStart * inStrides[k];
    dstOffset += std::max<int64_t>(0, begin) * outStrides[k];
  }
  int64_t esi = static_cast<int64_t>(es);
  copyStrided(in.raw() + srcOffset * esi, out.raw() + dstOffset * esi, es, box, inStrides, outStrides, ctx);
}

Result<PreparedNode> preparePad(const NodeContext& ctx) {
  if (!ctx.hasInput(0)) return ctx.error("input 0 is required");
  const TensorType& input = ctx.input(0);
  size_t rank = input.shape.size();
  Result<std::string> mode = ctx.attributes().getString("mode", "constant");
  if (!mode) return ctx.error(mode.error().message);
  if (*mode != "constant")
    return ctx.error(fmt::format("mode '{}' is not supported (cleave implements only 'constant')", *mode));

  std::vector<int64_t> pads;
  std::array<std::byte, 8> value{};  // the pad element in the input's dtype; zero by default
  bool runtimeValue = false;
  if (ctx.opset >= 11) {
    CLEAVE_TRY(requireInputCount(ctx, 2, 4));
    Result<std::vector<int64_t>> given = constantInts(ctx, 1, "pads");
    if (!given) return given.error();
    Result<std::optional<std::vector<int64_t>>> axes = optionalConstantInts(ctx, 3, "axes");  // opset 18
    if (!axes) return axes.error();
    if (*axes) {
      // Pads name only the listed axes; spread them over all dimensions.
      size_t n = (*axes)->size();
      if (given->size() != 2 * n)
        return ctx.error(fmt::format("pads has {} values, expected {} for {} axes", given->size(), 2 * n, n));
      pads.assign(2 * rank, 0);
      std::vector<bool> seen(rank, false);
      for (size_t i = 0; i < n; ++i) {
        Result<int64_t> axis = normalizeAxis(ctx, (**axes)[i], rank);
        if (!axis) return axis.error();
        size_t k = static_cast<size_t>(*axis);
        if (seen[k]) return ctx.error(fmt::format("axis {} given more than once", (**axes)[i]));
        seen[k] = true;
        pads[k] = (*given)[i];
        pads[k + rank] = (*given)[i + n];
      }
    } else {
      pads = std::move(given).value();
    }
    if (ctx.hasInput(2)) {
      if (ctx.input(2).dtype != input.dtype)
        return ctx.error(fmt::format("constant_value has type {}, the data {}", dtypeName(ctx.input(2).dtype),
                                     dtypeName(input.dtype)));
      if (ctx.input(2).numel() != 1) return ctx.error("constant_value must hold one value");
      runtimeValue = true;
    }
  } else {
    CLEAVE_TRY(requireInputCount(ctx, 1, 1));
    Result<std::vector<int64_t>> attr = ctx.attributes().getInts("pads", {});
    if (!attr) return ctx.error(attr.error().message);
    if (!ctx.attributes().has("pads")) return ctx.error("attribute 'pads' is required");
    pads = std::move(attr).value();
    Result<float> v = ctx.attributes().getFloat("value", 0.0f);
    if (!v) return ctx.error(v.error().message);
    convertElements(reinterpret_cast<const std::byte*>(&*v), DType::F32, value.data(), input.dtype, 1);
  }
  if (dtypeSize(input.dtype) == 0 || dtypeSize(input.dtype) > value.size())
    return ctx.error(fmt::format("input has unsupported type {}", dtypeName(input.dtype)));
  Result<Shape> shape = padShape(input.shape, pads);
  if (!shape) return ctx.error(shape.error().message);

  PreparedNode prepared;
  prepared.outputTypes = {TensorType{input.dtype, *shape}};
  // Data movement ops count one "MAC" per element written when the kernel has to run.
  prepared.macs = shapeNumel(*shape);
  prepared.opClass = OpClass::Other;
  prepared.kernel = makeKernel([pads = std::move(pads), value, runtimeValue](
                                   std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& run) {
    const std::byte* fill = runtimeValue ? inputs[2].raw() : value.data();
    pad(inputs[0], pads, fill, outputs[0], run);
  });
  return prepared;
}

}  // namespace cleave

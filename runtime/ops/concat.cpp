#include "runtime/ops/concat.h"

#include <fmt/format.h>

#include "runtime/ops/data_movement.h"

namespace cleave {

Result<PreparedNode> prepareConcat(const NodeContext& ctx) {
  if (ctx.inputCount() == 0) return ctx.error("needs at least one input");
  for (size_t i = 0; i < ctx.inputCount(); ++i)
    if (!ctx.hasInput(i)) return ctx.error(fmt::format("input {} is missing", i));
  const TensorType& first = ctx.input(0);
  if (first.shape.empty()) return ctx.error("cannot concatenate scalars");
  // Concat-1 defaulted the axis to 1; from opset 4 it is required.
  if (ctx.opset >= 4 && !ctx.attributes().has("axis")) return ctx.error("attribute 'axis' is required");
  Result<int64_t> attr = ctx.attributes().getInt("axis", 1);
  if (!attr) return ctx.error(attr.error().message);
  Result<int64_t> axisResult = normalizeAxis(ctx, *attr, first.shape.size());
  if (!axisResult) return axisResult.error();
  size_t axis = static_cast<size_t>(*axisResult);

  Shape outShape = first.shape;
  outShape[axis] = 0;
  for (size_t i = 0; i < ctx.inputCount(); ++i) {
    const TensorType& in = ctx.input(i);
    if (in.dtype != first.dtype)
      return ctx.error(fmt::format("input {} has type {}, input 0 has {}", i, dtypeName(in.dtype), dtypeName(first.dtype)));
    bool match = in.shape.size() == first.shape.size();
    for (size_t k = 0; match && k < in.shape.size(); ++k) match = k == axis || in.shape[k] == first.shape[k];
    if (!match)
      return ctx.error(fmt::format("input {} has shape {}, which does not match input 0's {} outside axis {}", i,
                                   shapeString(in.shape), shapeString(first.shape), axis));
    outShape[axis] += in.shape[axis];
  }

  PreparedNode prepared;
  prepared.outputTypes = {TensorType{first.dtype, outShape}};
  // Data movement ops count one "MAC" per element written when the kernel has to run.
  prepared.macs = shapeNumel(outShape);
  prepared.opClass = OpClass::Other;
  prepared.kernel = makeKernel([axis](std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& run) {
    Tensor& out = outputs[0];
    int64_t outer = 1, inner = 1;
    for (size_t k = 0; k < axis; ++k) outer *= out.dim(k);
    for (size_t k = axis + 1; k < out.rank(); ++k) inner *= out.dim(k);
    int64_t es = static_cast<int64_t>(dtypeSize(out.dtype()));
    int64_t outRow = out.dim(axis) * inner;
    int64_t offset = 0;
    for (const Tensor& in : inputs) {
      int64_t row = in.dim(axis) * inner;
      // Each input fills a [outer, row] box of the output, whose rows are outRow apart.
      const int64_t srcStrides[] = {row, 1}, dstStrides[] = {outRow, 1};
      copyStrided(in.raw(), out.raw() + offset * es, static_cast<size_t>(es), Shape{outer, row}, srcStrides,
                  dstStrides, run);
      offset += row;
    }
  });
  return prepared;
}

}  // namespace cleave

#include "runtime/ops/split.h"

#include <fmt/format.h>

#include "runtime/ops/data_movement.h"

namespace cleave {

Result<std::vector<int64_t>> splitSizes(int64_t dim, size_t outputs, const std::optional<std::vector<int64_t>>& split,
                                        bool ceilParts) {
  if (outputs == 0) return Error{"has no outputs"};
  int64_t n = static_cast<int64_t>(outputs);
  if (split) {
    if (split->size() != outputs)
      return Error{fmt::format("split has {} sizes for {} outputs", split->size(), outputs)};
    int64_t sum = 0;
    for (int64_t s : *split) {
      if (s < 0 || s > dim) return Error{fmt::format("split size {} is out of range for dimension {}", s, dim)};
      sum += s;
    }
    if (sum != dim) return Error{fmt::format("split sizes [{}] sum to {}, not the dimension {}", fmt::join(*split, ","), sum, dim)};
    return *split;
  }
  if (ceilParts) {
    int64_t part = (dim + n - 1) / n;
    std::vector<int64_t> sizes;
    for (int64_t i = 0, left = dim; i < n; ++i, left -= std::min(left, part)) sizes.push_back(std::min(left, part));
    return sizes;
  }
  if (dim % n != 0) return Error{fmt::format("dimension {} does not split into {} equal parts", dim, n)};
  return std::vector<int64_t>(outputs, dim / n);
}

Result<PreparedNode> prepareSplit(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 1, ctx.opset >= 13 ? 2 : 1));
  const TensorType& input = ctx.input(0);
  if (input.shape.empty()) return ctx.error("cannot split a scalar");
  Result<int64_t> attr = ctx.attributes().getInt("axis", 0);
  if (!attr) return ctx.error(attr.error().message);
  Result<int64_t> axisResult = normalizeAxis(ctx, *attr, input.shape.size());
  if (!axisResult) return axisResult.error();
  size_t axis = static_cast<size_t>(*axisResult);

  std::optional<std::vector<int64_t>> split;
  if (ctx.opset >= 13) {
    Result<std::optional<std::vector<int64_t>>> values = optionalConstantInts(ctx, 1, "split");
    if (!values) return values.error();
    split = std::move(values).value();
  } else if (ctx.attributes().has("split")) {
    Result<std::vector<int64_t>> values = ctx.attributes().getInts("split", {});
    if (!values) return ctx.error(values.error().message);
    split = std::move(values).value();
  }
  bool ceilParts = false;
  if (ctx.attributes().has("num_outputs")) {  // opset 18
    Result<int64_t> numOutputs = ctx.attributes().getInt("num_outputs", 0);
    if (!numOutputs) return ctx.error(numOutputs.error().message);
    if (*numOutputs != static_cast<int64_t>(ctx.node.outputs.size()))
      return ctx.error(fmt::format("num_outputs is {} but the node has {} outputs", *numOutputs, ctx.node.outputs.size()));
    ceilParts = !split;
  }
  Result<std::vector<int64_t>> sizes = splitSizes(input.shape[axis], ctx.node.outputs.size(), split, ceilParts);
  if (!sizes) return ctx.error(sizes.error().message);

  PreparedNode prepared;
  for (int64_t size : *sizes) {
    Shape shape = input.shape;
    shape[axis] = size;
    prepared.outputTypes.push_back(TensorType{input.dtype, shape});
  }
  // Data movement ops count one "MAC" per element written when the kernel has to run.
  prepared.macs = input.numel();
  prepared.opClass = OpClass::Other;
  prepared.kernel = makeKernel([axis](std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& run) {
    const Tensor& in = inputs[0];
    int64_t outer = 1, inner = 1;
    for (size_t k = 0; k < axis; ++k) outer *= in.dim(k);
    for (size_t k = axis + 1; k < in.rank(); ++k) inner *= in.dim(k);
    int64_t es = static_cast<int64_t>(dtypeSize(in.dtype()));
    int64_t inRow = in.dim(axis) * inner;
    int64_t offset = 0;
    for (Tensor& out : outputs) {
      int64_t row = out.dim(axis) * inner;
      const int64_t srcStrides[] = {inRow, 1}, dstStrides[] = {row, 1};
      copyStrided(in.raw() + offset * es, out.raw(), static_cast<size_t>(es), Shape{outer, row}, srcStrides,
                  dstStrides, run);
      offset += row;
    }
  });
  return prepared;
}

}  // namespace cleave

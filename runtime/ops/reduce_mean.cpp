#include "runtime/ops/reduce_mean.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <fmt/format.h>

namespace cleave {

ReducePlan planReduce(const Shape& input, const std::vector<bool>& reducedAxes) {
  ReducePlan plan;
  plan.dims.clear();
  for (size_t d = 0; d < input.size(); ++d) {
    if (reducedAxes[d]) plan.count *= input[d];
    else plan.outputs *= input[d];
    if (input[d] == 1) continue;
    char reduced = reducedAxes[d] ? 1 : 0;
    if (!plan.dims.empty() && plan.reduced.back() == reduced) {
      plan.dims.back() *= input[d];
    } else {
      plan.dims.push_back(input[d]);
      plan.reduced.push_back(reduced);
    }
  }
  if (plan.dims.empty()) {
    plan.dims = {1};
    plan.reduced = {0};
  }
  return plan;
}

namespace {

float sumRow(const float* x, int64_t n) {
  constexpr int64_t LANES = 8;  // independent partial sums so the loop vectorises
  float partial[LANES] = {};
  int64_t i = 0;
  for (; i + LANES <= n; i += LANES)
    for (int64_t l = 0; l < LANES; ++l) partial[l] += x[i + l];
  float sum = 0.0f;
  for (; i < n; ++i) sum += x[i];
  for (float s : partial) sum += s;
  return sum;
}

}  // namespace

void reduceMean(const ReducePlan& plan, const float* in, float* out, const RunContext& run) {
  const size_t rank = plan.dims.size();
  const float scale = 1.0f / static_cast<float>(plan.count);
  const int64_t inner = plan.dims[rank - 1];
  if (plan.outputs == 0) return;
  if (plan.count == 0) {  // mean of nothing
    std::fill(out, out + plan.outputs, std::numeric_limits<float>::quiet_NaN());
    return;
  }
  // Fast path: reducing trailing axes ({kept, reduced} or just {reduced}): one row per output.
  if (plan.reduced[rank - 1] && rank <= 2) {
    run.parallelFor(plan.outputs, std::max<int64_t>(1, 16384 / inner), [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) out[o] = sumRow(in + o * inner, inner) * scale;
    });
    return;
  }
  // General case: walk the input row by row (the innermost dim), adding each row into the output
  // either as one sum (innermost reduced) or elementwise (innermost kept).
  std::vector<int64_t> outStrides(rank, 0);
  int64_t stride = 1;
  for (size_t d = rank; d-- > 0;) {
    if (plan.reduced[d]) continue;
    outStrides[d] = stride;
    stride *= plan.dims[d];
  }
  std::fill(out, out + plan.outputs, 0.0f);
  std::vector<int64_t> coord(rank, 0);
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < rank; ++d) rows *= plan.dims[d];
  int64_t outOffset = 0;
  const bool innerReduced = plan.reduced[rank - 1] != 0;
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = in + r * inner;
    if (innerReduced) {
      out[outOffset] += sumRow(src, inner);
    } else {
      float* dst = out + outOffset;
      for (int64_t i = 0; i < inner; ++i) dst[i] += src[i];
    }
    for (size_t d = rank - 1; d-- > 0;) {
      outOffset += outStrides[d];
      if (++coord[d] < plan.dims[d]) break;
      outOffset -= outStrides[d] * plan.dims[d];
      coord[d] = 0;
    }
  }
  for (int64_t o = 0; o < plan.outputs; ++o) out[o] *= scale;
}

Result<PreparedNode> prepareReduceMean(const NodeContext& ctx) {
  const bool axesInput = ctx.opset >= 18;
  CLEAVE_TRY(requireInputCount(ctx, 1, axesInput ? 2 : 1));
  CLEAVE_TRY(requireDType(ctx, 0, {DType::F32}));
  if (ctx.node.outputs.size() != 1) return ctx.error(fmt::format("expects 1 output, got {}", ctx.node.outputs.size()));
  const Attributes& attrs = ctx.attributes();
  Result<int64_t> keepdims = attrs.getInt("keepdims", 1);
  if (!keepdims) return ctx.error(keepdims.error().message);
  if (*keepdims != 0 && *keepdims != 1) return ctx.error(fmt::format("keepdims must be 0 or 1, got {}", *keepdims));
  Result<int64_t> noopWithEmptyAxes = attrs.getInt("noop_with_empty_axes", 0);
  if (!noopWithEmptyAxes) return ctx.error(noopWithEmptyAxes.error().message);

  std::vector<int64_t> axes;
  if (!axesInput) {
    Result<std::vector<int64_t>> attr = attrs.getInts("axes", {});
    if (!attr) return ctx.error(attr.error().message);
    axes = *attr;
  } else if (ctx.hasInput(1)) {
    const Tensor* constant = ctx.constant(1);
    if (!constant) return ctx.error("axes input must be a constant");
    if (constant->dtype() != DType::I64 || constant->rank() > 1)
      return ctx.error(fmt::format("axes input must be a 1-D int64 tensor, got {}", constant->type().toString()));
    axes = constant->toInt64s();
  }

  const Shape& shape = ctx.input(0).shape;
  std::vector<bool> reduced(shape.size(), axes.empty());
  if (axes.empty() && axesInput && *noopWithEmptyAxes) reduced.assign(shape.size(), false);
  for (int64_t axis : axes) {
    Result<int64_t> a = normalizeAxis(ctx, axis, shape.size());
    if (!a) return a.error();
    if (reduced[static_cast<size_t>(*a)]) return ctx.error(fmt::format("axis {} is listed twice", axis));
    reduced[static_cast<size_t>(*a)] = true;
  }

  Shape outShape;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (!reduced[d]) outShape.push_back(shape[d]);
    else if (*keepdims) outShape.push_back(1);
  }

  PreparedNode prepared;
  prepared.outputTypes = {TensorType{DType::F32, outShape}};
  // Like pooling: output elements times the elements averaged into each.
  prepared.macs = shapeNumel(shape);
  prepared.opClass = OpClass::Elementwise;
  auto plan = std::make_shared<const ReducePlan>(planReduce(shape, reduced));
  prepared.kernel = makeKernel([plan](std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& run) {
    reduceMean(*plan, inputs[0].data<float>(), outputs[0].data<float>(), run);
  });
  return prepared;
}

}  // namespace cleave

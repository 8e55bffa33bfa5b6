#include "runtime/ops/slice.h"

#include <algorithm>

#include <fmt/format.h>

#include "runtime/ops/data_movement.h"

namespace cleave {

Result<std::vector<SliceAxis>> slicePlan(const Shape& input, const std::vector<int64_t>& starts,
                                         const std::vector<int64_t>& ends, const std::vector<int64_t>& axes,
                                         const std::vector<int64_t>& steps) {
  size_t n = starts.size();
  if (ends.size() != n || (!axes.empty() && axes.size() != n) || (!steps.empty() && steps.size() != n))
    return Error{fmt::format("starts, ends, axes and steps have different lengths ({}, {}, {}, {})", n, ends.size(),
                             axes.size(), steps.size())};
  size_t rank = input.size();
  if (axes.empty() && n > rank) return Error{fmt::format("{} starts for an input of rank {}", n, rank)};
  std::vector<SliceAxis> plan(rank);
  std::vector<bool> seen(rank, false);
  for (size_t k = 0; k < rank; ++k) plan[k].count = input[k];
  for (size_t i = 0; i < n; ++i) {
    int64_t axis = axes.empty() ? static_cast<int64_t>(i) : axes[i];
    int64_t r = static_cast<int64_t>(rank);
    if (axis < -r || axis >= r) return Error{fmt::format("axis {} out of range for rank {}", axis, rank)};
    size_t k = static_cast<size_t>(axis < 0 ? axis + r : axis);
    if (seen[k]) return Error{fmt::format("axis {} is sliced more than once", axis)};
    seen[k] = true;

    int64_t dim = input[k];
    int64_t step = steps.empty() ? 1 : steps[i];
    if (step == 0) return Error{fmt::format("step for axis {} is 0", axis)};
    // A step longer than the dimension takes at most one element; capping it keeps the stride
    // arithmetic below from overflowing without changing the result.
    int64_t maxStep = std::max<int64_t>(dim, 1);
    step = std::clamp(step, -maxStep, maxStep);
    // Adding dim to a negative index cannot overflow, even for INT64_MIN.
    int64_t start = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t end = ends[i] < 0 ? ends[i] + dim : ends[i];
    int64_t count = 0;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      if (end > start) count = (end - start - 1) / step + 1;
    } else {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      if (start > end) count = (start - end - 1) / -step + 1;
    }
    plan[k] = SliceAxis{count > 0 ? start : 0, step, count};
  }
  return plan;
}

void slice(const Tensor& in, std::span<const SliceAxis> plan, Tensor& out, const RunContext& ctx) {
  std::vector<int64_t> inStrides = contiguousStrides(in.shape());
  std::vector<int64_t> srcStrides(plan.size());
  int64_t base = 0;
  for (size_t k = 0; k < plan.size(); ++k) {
    base += plan[k].start * inStrides[k];
    srcStrides[k] = plan[k].step * inStrides[k];
  }
  int64_t es = static_cast<int64_t>(dtypeSize(in.dtype()));
  copyStrided(in.raw() + base * es, out.raw(), static_cast<size_t>(es), out.shape(), srcStrides,
              contiguousStrides(out.shape()), ctx);
}

Result<std::vector<SliceAxis>> slicePlanOf(const NodeContext& ctx) {
  std::vector<int64_t> starts, ends, axes, steps;
  if (ctx.opset >= 10) {
    CLEAVE_TRY(requireInputCount(ctx, 3, 5));
    Result<std::vector<int64_t>> s = constantInts(ctx, 1, "starts");
    if (!s) return s.error();
    Result<std::vector<int64_t>> e = constantInts(ctx, 2, "ends");
    if (!e) return e.error();
    Result<std::optional<std::vector<int64_t>>> a = optionalConstantInts(ctx, 3, "axes");
    if (!a) return a.error();
    Result<std::optional<std::vector<int64_t>>> st = optionalConstantInts(ctx, 4, "steps");
    if (!st) return st.error();
    starts = std::move(s).value();
    ends = std::move(e).value();
    if (*a) axes = std::move(**a);
    if (*st) steps = std::move(**st);
  } else {
    CLEAVE_TRY(requireInputCount(ctx, 1, 1));
    if (!ctx.attributes().has("starts") || !ctx.attributes().has("ends"))
      return ctx.error("attributes 'starts' and 'ends' are required");
    Result<std::vector<int64_t>> s = ctx.attributes().getInts("starts", {});
    Result<std::vector<int64_t>> e = ctx.attributes().getInts("ends", {});
    Result<std::vector<int64_t>> a = ctx.attributes().getInts("axes", {});
    if (!s || !e || !a) return ctx.error(!s ? s.error().message : !e ? e.error().message : a.error().message);
    starts = std::move(s).value();
    ends = std::move(e).value();
    axes = std::move(a).value();
  }
  Result<std::vector<SliceAxis>> plan = slicePlan(ctx.input(0).shape, starts, ends, axes, steps);
  if (!plan) return ctx.error(plan.error().message);
  return plan;
}

Result<PreparedNode> prepareSlice(const NodeContext& ctx) {
  Result<std::vector<SliceAxis>> plan = slicePlanOf(ctx);
  if (!plan) return plan.error();
  const TensorType& input = ctx.input(0);
  Shape shape;
  for (const SliceAxis& a : *plan) shape.push_back(a.count);

  PreparedNode prepared;
  prepared.outputTypes = {TensorType{input.dtype, shape}};
  // Data movement ops count one "MAC" per element written when the kernel has to run.
  prepared.macs = shapeNumel(shape);
  prepared.opClass = OpClass::Other;
  prepared.kernel = makeKernel([plan = std::move(plan).value()](std::span<const Tensor> inputs,
                                                                 std::span<Tensor> outputs, const RunContext& run) {
    slice(inputs[0], plan, outputs[0], run);
  });
  return prepared;
}

}  // namespace cleave

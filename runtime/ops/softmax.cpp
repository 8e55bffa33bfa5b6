#include "runtime/ops/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <fmt/format.h>

namespace cleave {

void softmax(const SoftmaxShape& s, const float* in, float* out, int64_t outerBegin, int64_t outerEnd) {
  const int64_t slice = s.axis * s.inner;
  if (s.inner == 1) {
    for (int64_t o = outerBegin; o < outerEnd; ++o) {
      const float* x = in + o * slice;
      float* y = out + o * slice;
      float max = -std::numeric_limits<float>::infinity();
      for (int64_t a = 0; a < s.axis; ++a) max = std::max(max, x[a]);
      float sum = 0.0f;
      for (int64_t a = 0; a < s.axis; ++a) {
        y[a] = std::exp(x[a] - max);
        sum += y[a];
      }
      const float scale = 1.0f / sum;
      for (int64_t a = 0; a < s.axis; ++a) y[a] *= scale;
    }
    return;
  }
  // Strided axis: work on whole rows of `inner` values at a time so the loops run contiguously.
  std::vector<float> max(static_cast<size_t>(s.inner)), sum(static_cast<size_t>(s.inner));
  for (int64_t o = outerBegin; o < outerEnd; ++o) {
    const float* x = in + o * slice;
    float* y = out + o * slice;
    std::fill(max.begin(), max.end(), -std::numeric_limits<float>::infinity());
    std::fill(sum.begin(), sum.end(), 0.0f);
    for (int64_t a = 0; a < s.axis; ++a)
      for (int64_t i = 0; i < s.inner; ++i) max[i] = std::max(max[i], x[a * s.inner + i]);
    for (int64_t a = 0; a < s.axis; ++a)
      for (int64_t i = 0; i < s.inner; ++i) {
        float e = std::exp(x[a * s.inner + i] - max[i]);
        y[a * s.inner + i] = e;
        sum[i] += e;
      }
    for (int64_t i = 0; i < s.inner; ++i) sum[i] = 1.0f / sum[i];
    for (int64_t a = 0; a < s.axis; ++a)
      for (int64_t i = 0; i < s.inner; ++i) y[a * s.inner + i] *= sum[i];
  }
}

Result<PreparedNode> prepareSoftmax(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 1, 1));
  CLEAVE_TRY(requireDType(ctx, 0, {DType::F32}));
  CLEAVE_TRY(requireRank(ctx, 0, 1, 64));
  if (ctx.node.outputs.size() != 1) return ctx.error(fmt::format("expects 1 output, got {}", ctx.node.outputs.size()));
  const bool perAxis = ctx.opset >= 13;
  Result<int64_t> axisAttr = ctx.attributes().getInt("axis", perAxis ? -1 : 1);
  if (!axisAttr) return ctx.error(axisAttr.error().message);
  const Shape& shape = ctx.input(0).shape;
  Result<int64_t> axis = normalizeAxis(ctx, *axisAttr, shape.size());
  if (!axis) return axis.error();

  SoftmaxShape s;
  const auto at = static_cast<size_t>(*axis);
  for (size_t d = 0; d < at; ++d) s.outer *= shape[d];
  if (perAxis) {
    s.axis = shape[at];
    for (size_t d = at + 1; d < shape.size(); ++d) s.inner *= shape[d];
  } else {
    // Opset < 13 coerces to 2D: everything from `axis` on is one row.
    for (size_t d = at; d < shape.size(); ++d) s.axis *= shape[d];
  }

  PreparedNode prepared;
  prepared.outputTypes = {ctx.input(0)};
  prepared.macs = shapeNumel(shape);
  prepared.opClass = OpClass::Other;
  prepared.kernel = makeKernel([s](std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& run) {
    run.parallelFor(s.outer, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, s.axis * s.inner)),
                    [&](int64_t begin, int64_t end) {
                      softmax(s, inputs[0].data<float>(), outputs[0].data<float>(), begin, end);
                    });
  });
  return prepared;
}

}  // namespace cleave

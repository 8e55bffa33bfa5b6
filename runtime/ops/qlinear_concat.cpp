// com.microsoft QLinearConcat: inputs (Y_scale, Y_zero_point, then X_i, X_i_scale, X_i_zero_point
// for each input) and attribute axis. An input quantised as the output is copied; any other is
// moved to the output's scale by cleave_q_rescale (fixed point, so the MCU computes the same).
#include <fmt/format.h>

#include <cstring>

#include "runtime/ops/qlinear_common.h"

namespace cleave {

Result<PreparedNode> prepareQLinearConcat(const NodeContext& ctx) {
  if (ctx.inputCount() < 5 || (ctx.inputCount() - 2) % 3 != 0)
    return ctx.error("needs Y_scale, Y_zero_point and a (X, scale, zero point) triple per input");
  Result<ActivationScale> y = activationScale(ctx, 0, 1);
  if (!y) return y.error();
  const size_t count = (ctx.inputCount() - 2) / 3;
  Result<int64_t> attr = ctx.attributes().getInt("axis", 1);
  if (!attr || !ctx.attributes().has("axis")) return ctx.error("attribute 'axis' (an int) is required");
  CLEAVE_TRY(requireInt8Activation(ctx, 2));
  const Shape& first = ctx.input(2).shape;
  Result<int64_t> axisResult = normalizeAxis(ctx, *attr, first.size());
  if (!axisResult) return axisResult.error();
  const auto axis = static_cast<size_t>(*axisResult);

  struct Part {
    int64_t rowBytes = 0;  // bytes of one input row (its extent along axis times everything after)
    bool copy = true;
    int32_t inputZeroPoint = 0, multiplier = 0;
    int shift = 0;
  };
  std::vector<Part> parts(count);
  Shape outShape = first;
  outShape[axis] = 0;
  int64_t inner = 1;
  for (size_t k = axis + 1; k < first.size(); ++k) inner *= first[k];
  for (size_t i = 0; i < count; ++i) {
    const size_t x = 2 + 3 * i;
    CLEAVE_TRY(requireInt8Activation(ctx, x));
    const Shape& shape = ctx.input(x).shape;
    bool match = shape.size() == first.size();
    for (size_t k = 0; match && k < shape.size(); ++k) match = k == axis || shape[k] == first[k];
    if (!match)
      return ctx.error(fmt::format("input {} has shape {}, which does not match {} outside axis {}", x,
                                   shapeString(shape), shapeString(first), axis));
    Result<ActivationScale> q = activationScale(ctx, x + 1, x + 2);
    if (!q) return q.error();
    Part& part = parts[i];
    part.rowBytes = shape[axis] * inner;
    part.inputZeroPoint = q->zeroPoint;
    part.copy = q->scale == y->scale && q->zeroPoint == y->zeroPoint;
    cleave_q_quantize_multiplier(static_cast<double>(q->scale) / static_cast<double>(y->scale), &part.multiplier,
                                 &part.shift);
    outShape[axis] += shape[axis];
  }
  int64_t outer = 1;
  for (size_t k = 0; k < axis; ++k) outer *= first[k];

  PreparedNode prepared;
  prepared.outputTypes = {TensorType{DType::I8, outShape}};
  prepared.macs = shapeNumel(outShape);
  const int32_t outputZeroPoint = y->zeroPoint;
  prepared.kernel = makeKernel([parts, outer, outputZeroPoint](std::span<const Tensor> in, std::span<Tensor> out,
                                                               const RunContext&) {
    int64_t outRow = 0;
    for (const Part& part : parts) outRow += part.rowBytes;
    int8_t* result = out[0].data<int8_t>();
    int64_t offset = 0;
    for (size_t i = 0; i < parts.size(); ++i) {
      const Part& part = parts[i];
      const int8_t* x = in[2 + 3 * i].data<int8_t>();
      for (int64_t o = 0; o < outer; ++o) {
        int8_t* dst = result + o * outRow + offset;
        const int8_t* src = x + o * part.rowBytes;
        if (part.copy)
          std::memcpy(dst, src, static_cast<size_t>(part.rowBytes));
        else
          cleave_q_rescale(part.rowBytes, src, part.inputZeroPoint, part.multiplier, part.shift, outputZeroPoint, dst);
      }
      offset += part.rowBytes;
    }
  });
  return prepared;
}

}  // namespace cleave

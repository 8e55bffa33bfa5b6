// QuantizeLinear and DequantizeLinear (opset 10 and 13): the boundaries of a QDQ model, per
// tensor or per axis, to and from int8 or uint8 (and int32 for dequantised biases). In a float
// session they run as ops of their own, which is what a QDQ model means ("fake quantisation");
// per-tensor int8 goes through the int8 reference kernels' boundary functions (runtime/int8/).
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "runtime/int8/kernels.h"
#include "runtime/ops/ops.h"

namespace cleave {
namespace {

// Where each element's scale and zero point come from: one pair for the whole tensor, or one per
// index along `axis`; an element's index along the axis is (flat / inner) % axisSize.
struct Quantisation {
  int64_t axisSize = 1, inner = 1;
  DType zeroPointType = DType::U8;  // ONNX's default when the zero point is omitted
};

// Checks the scale (float, scalar or 1-D along `axis`) and zero point (same shape) of a node
// whose input 0 is the data.
Result<Quantisation> quantisationOf(const NodeContext& ctx, std::initializer_list<DType> zeroPointTypes) {
  const TensorType& data = ctx.input(0);
  const TensorType& scale = ctx.input(1);
  if (scale.dtype != DType::F32) return ctx.error(fmt::format("scale must be float, not {}", dtypeName(scale.dtype)));
  Quantisation q;
  if (scale.shape.size() > 1) return ctx.error("scale must be a scalar or 1-D (per axis)");
  if (!scale.shape.empty() && scale.shape[0] != 1) {
    if (ctx.opset < 13) return ctx.error("per-axis scales need opset 13");
    Result<int64_t> axisAttr = ctx.attributes().getInt("axis", 1);
    if (!axisAttr) return ctx.error(axisAttr.error().message);
    Result<int64_t> axis = normalizeAxis(ctx, *axisAttr, data.shape.size());
    if (!axis) return axis.error();
    q.axisSize = data.shape[static_cast<size_t>(*axis)];
    if (scale.shape[0] != q.axisSize)
      return ctx.error(fmt::format("{} scales for an axis of {}", scale.shape[0], q.axisSize));
    for (size_t d = static_cast<size_t>(*axis) + 1; d < data.shape.size(); ++d) q.inner *= data.shape[d];
  }
  if (const Tensor* scales = ctx.constant(1))
    for (float v : scales->values<float>())
      if (!(v > 0.0f) || !std::isfinite(v))  // QDQ scales come from the model file: check them here
        return ctx.error(fmt::format("scale {} is not a positive finite number", v));
  if (ctx.hasInput(2)) {
    const TensorType& zeroPoint = ctx.input(2);
    if (std::find(zeroPointTypes.begin(), zeroPointTypes.end(), zeroPoint.dtype) == zeroPointTypes.end())
      return ctx.error(fmt::format("zero point of type {} is not supported here", dtypeName(zeroPoint.dtype)));
    if (zeroPoint.shape != scale.shape) return ctx.error("zero point and scale must have the same shape");
    q.zeroPointType = zeroPoint.dtype;
  }
  return q;
}

int64_t channelOf(const Quantisation& q, int64_t flat) { return q.axisSize == 1 ? 0 : (flat / q.inner) % q.axisSize; }

int32_t zeroPointAt(const Tensor* zeroPoint, int64_t channel) {
  if (!zeroPoint || zeroPoint->empty()) return 0;
  switch (zeroPoint->dtype()) {
    case DType::I8: return zeroPoint->data<int8_t>()[channel];
    case DType::U8: return zeroPoint->data<uint8_t>()[channel];
    case DType::I32: return zeroPoint->data<int32_t>()[channel];
    default: return 0;
  }
}

}  // namespace

Result<PreparedNode> prepareQuantizeLinear(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 2, 3));
  CLEAVE_TRY(requireDType(ctx, 0, {DType::F32}));
  Result<Quantisation> q = quantisationOf(ctx, {DType::I8, DType::U8});
  if (!q) return q.error();
  PreparedNode prepared;
  prepared.outputTypes = {TensorType{q->zeroPointType, ctx.input(0).shape}};
  prepared.macs = ctx.input(0).numel();
  prepared.kernel = makeKernel([q = *q](std::span<const Tensor> in, std::span<Tensor> out, const RunContext&) {
    const float* x = in[0].data<float>();
    const float* scale = in[1].data<float>();
    const Tensor* zeroPoint = in.size() > 2 ? &in[2] : nullptr;
    const int64_t n = in[0].numel();
    if (q.zeroPointType == DType::I8 && q.axisSize == 1) {  // the int8 reference kernel, as the MCU runs it
      cleave_q_quantize(n, x, scale[0], zeroPointAt(zeroPoint, 0), out[0].data<int8_t>());
      return;
    }
    const bool isSigned = q.zeroPointType == DType::I8;
    const float low = isSigned ? -128.0f : 0.0f, high = isSigned ? 127.0f : 255.0f;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t c = channelOf(q, i);
      // Halves to even (the default rounding mode), then the zero point, then saturation.
      float v = std::nearbyint(x[i] / scale[c]) + static_cast<float>(zeroPointAt(zeroPoint, c));
      v = std::isnan(v) ? static_cast<float>(zeroPointAt(zeroPoint, c)) : std::clamp(v, low, high);
      if (isSigned) out[0].data<int8_t>()[i] = static_cast<int8_t>(v);
      else out[0].data<uint8_t>()[i] = static_cast<uint8_t>(v);
    }
  });
  return prepared;
}

Result<PreparedNode> prepareDequantizeLinear(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 2, 3));
  CLEAVE_TRY(requireDType(ctx, 0, {DType::I8, DType::U8, DType::I32}));
  Result<Quantisation> q = quantisationOf(ctx, {DType::I8, DType::U8, DType::I32});
  if (!q) return q.error();
  if (ctx.hasInput(2) && ctx.input(2).dtype != ctx.input(0).dtype)
    return ctx.error("zero point and input must have the same type");
  PreparedNode prepared;
  prepared.outputTypes = {TensorType{DType::F32, ctx.input(0).shape}};
  prepared.macs = ctx.input(0).numel();
  const DType type = ctx.input(0).dtype;
  prepared.kernel = makeKernel([q = *q, type](std::span<const Tensor> in, std::span<Tensor> out, const RunContext&) {
    const float* scale = in[1].data<float>();
    const Tensor* zeroPoint = in.size() > 2 ? &in[2] : nullptr;
    float* y = out[0].data<float>();
    const int64_t n = in[0].numel();
    if (type == DType::I8 && q.axisSize == 1) {
      cleave_q_dequantize(n, in[0].data<int8_t>(), scale[0], zeroPointAt(zeroPoint, 0), y);
      return;
    }
    for (int64_t i = 0; i < n; ++i) {
      const int64_t c = channelOf(q, i);
      const int32_t v = type == DType::I8 ? in[0].data<int8_t>()[i]
                        : type == DType::U8 ? in[0].data<uint8_t>()[i]
                                            : in[0].data<int32_t>()[i];
      // In double, so an int32 bias far from its zero point keeps every bit float can hold.
      const int64_t offset = int64_t{v} - zeroPointAt(zeroPoint, c);
      y[i] = static_cast<float>(static_cast<double>(offset) * static_cast<double>(scale[c]));
    }
  });
  return prepared;
}

}  // namespace cleave

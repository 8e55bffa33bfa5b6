#include "runtime/ops/qlinear_common.h"

#include <fmt/format.h>

#include <cmath>

namespace cleave {

Result<ActivationScale> activationScale(const NodeContext& ctx, size_t scale, size_t zeroPoint) {
  const Tensor* s = ctx.constant(scale);
  const Tensor* z = ctx.constant(zeroPoint);
  if (!s || !z)
    return ctx.error(fmt::format("inputs {} and {} (scale and zero point) must be constants", scale, zeroPoint));
  if (s->dtype() != DType::F32 || s->numel() != 1)
    return ctx.error(fmt::format("input {} must be one float scale", scale));
  if (z->dtype() != DType::I8 || z->numel() != 1)
    return ctx.error(fmt::format("input {} must be one int8 zero point", zeroPoint));
  const float value = s->data<float>()[0];
  if (!(value > 0.0f) || !std::isfinite(value))
    return ctx.error(fmt::format("scale {} is not a positive finite number", value));
  return ActivationScale{value, z->data<int8_t>()[0]};
}

Status requireInt8Activation(const NodeContext& ctx, size_t index) {
  if (!ctx.hasInput(index) || ctx.input(index).dtype != DType::I8)
    return ctx.error(fmt::format("input {} must be int8 (cleave's int8 kernels are signed, as TFLM's are)", index));
  return {};
}

ChannelRequant ChannelRequant::forScales(double inputScale, const std::vector<float>& weightScales, int64_t channels,
                                         ActivationScale output) {
  ChannelRequant r;
  r.outputZeroPoint = output.zeroPoint;
  r.multipliers.resize(static_cast<size_t>(channels));
  r.shifts.resize(static_cast<size_t>(channels));
  for (size_t c = 0; c < static_cast<size_t>(channels); ++c) {
    // In double, as TFLM computes the effective scale before quantising it.
    const double weightScale = weightScales[weightScales.size() == 1 ? 0 : c];
    cleave_q_quantize_multiplier(inputScale * weightScale / static_cast<double>(output.scale), &r.multipliers[c],
                                 &r.shifts[c]);
  }
  return r;
}

Result<std::vector<float>> weightScales(const NodeContext& ctx, size_t scale, size_t zeroPoint, int64_t channels) {
  const Tensor* s = ctx.constant(scale);
  const Tensor* z = ctx.constant(zeroPoint);
  if (!s || !z) return ctx.error("the weights' scale and zero point must be constants");
  if (s->dtype() != DType::F32 || (s->numel() != 1 && s->numel() != channels))
    return ctx.error(fmt::format("the weights need one float scale or {} (one per output channel)", channels));
  if (z->dtype() != DType::I8 || z->numel() != s->numel())
    return ctx.error("the weights' zero points must be int8, as many as their scales");
  for (int8_t v : z->values<int8_t>())
    if (v != 0) return ctx.error("the weights' zero points must be 0 (symmetric weights, as TFLM's kernels take)");
  std::vector<float> scales(s->values<float>().begin(), s->values<float>().end());
  for (float v : scales)
    if (!(v > 0.0f) || !std::isfinite(v))
      return ctx.error(fmt::format("weight scale {} is not a positive finite number", v));
  return scales;
}

std::vector<int8_t> convWeightsOhwi(const Tensor& weights) {
  const int64_t out = weights.dim(0), perGroup = weights.dim(1), kh = weights.dim(2), kw = weights.dim(3);
  const int8_t* src = weights.data<int8_t>();
  std::vector<int8_t> packed(static_cast<size_t>(weights.numel()));
  for (int64_t o = 0; o < out; ++o)
    for (int64_t i = 0; i < perGroup; ++i)
      for (int64_t r = 0; r < kh; ++r)
        for (int64_t c = 0; c < kw; ++c)
          packed[static_cast<size_t>(((o * kh + r) * kw + c) * perGroup + i)] =
              src[((o * perGroup + i) * kh + r) * kw + c];
  return packed;
}

std::vector<int8_t> gemmWeightsOutIn(const Tensor& b, bool transB) {
  const int64_t columns = transB ? b.dim(0) : b.dim(1), inner = transB ? b.dim(1) : b.dim(0);
  const int8_t* src = b.data<int8_t>();
  std::vector<int8_t> packed(static_cast<size_t>(b.numel()));
  for (int64_t o = 0; o < columns; ++o)
    for (int64_t i = 0; i < inner; ++i)
      packed[static_cast<size_t>(o * inner + i)] = transB ? src[o * inner + i] : src[i * columns + o];
  return packed;
}

void nchwToNhwc(const int8_t* in, int8_t* out, int64_t batch, int64_t channels, int64_t plane) {
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t p = 0; p < plane; ++p) out[(n * plane + p) * channels + c] = in[(n * channels + c) * plane + p];
}

void nhwcToNchw(const int8_t* in, int8_t* out, int64_t batch, int64_t channels, int64_t plane) {
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t p = 0; p < plane; ++p)
      for (int64_t c = 0; c < channels; ++c) out[(n * channels + c) * plane + p] = in[(n * plane + p) * channels + c];
}

}  // namespace cleave

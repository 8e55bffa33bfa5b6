#include "runtime/ops/batch_norm.h"

#include <cmath>

#include <fmt/format.h>

#include "runtime/ops/ops.h"

namespace cleave {

BatchNormAffine batchNormAffine(const float* scale, const float* bias, const float* mean, const float* var,
                                int64_t channels, float epsilon) {
  BatchNormAffine affine;
  affine.multiplier.resize(static_cast<size_t>(channels));
  affine.offset.resize(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    size_t i = static_cast<size_t>(c);
    float m = scale[c] / std::sqrt(var[c] + epsilon);
    affine.multiplier[i] = m;
    affine.offset[i] = bias[c] - mean[c] * m;
  }
  return affine;
}

namespace {

void applyAffine(const float* x, float* y, const float* multiplier, const float* offset, int64_t batch,
                 int64_t channels, int64_t plane, const RunContext& ctx) {
  ctx.parallelFor(batch * channels, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, plane)),
                  [&](int64_t begin, int64_t end) {
                    for (int64_t unit = begin; unit < end; ++unit) {
                      int64_t c = unit % channels;
                      float m = multiplier[c], o = offset[c];
                      const float* __restrict src = x + unit * plane;
                      float* __restrict dst = y + unit * plane;
                      for (int64_t i = 0; i < plane; ++i) dst[i] = src[i] * m + o;
                    }
                  });
}

}  // namespace

Result<PreparedNode> prepareBatchNormalization(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 5, 5));
  for (size_t i = 0; i < 5; ++i) CLEAVE_TRY(requireDType(ctx, i, {DType::F32}));
  CLEAVE_TRY(requireRank(ctx, 0, 2, 8));
  Result<int64_t> training = ctx.attributes().getInt("training_mode", 0);
  if (!training) return ctx.error(training.error().message);
  if (*training != 0) return ctx.error("training_mode=1 is not supported (inference only)");
  for (size_t i = 1; i < ctx.node.outputs.size(); ++i)
    if (!ctx.node.outputs[i].empty())
      return ctx.error(fmt::format("output {} ('{}') is a training output; only Y is supported", i, ctx.node.outputs[i]));
  Result<float> epsilon = ctx.attributes().getFloat("epsilon", 1e-5f);
  if (!epsilon) return ctx.error(epsilon.error().message);
  const Shape& xShape = ctx.input(0).shape;
  int64_t channels = xShape[1];
  for (size_t i = 1; i < 5; ++i)
    if (ctx.input(i).shape != Shape{channels})
      return ctx.error(fmt::format("input {} has shape {}, expected [{}] (channels of X {})", i,
                                   shapeString(ctx.input(i).shape), channels, shapeString(xShape)));
  int64_t batch = xShape[0], plane = 1;
  for (size_t i = 2; i < xShape.size(); ++i) plane *= xShape[i];
  float eps = *epsilon;

  PreparedNode prepared;
  prepared.outputTypes = {TensorType{DType::F32, xShape}};
  prepared.macs = shapeNumel(xShape);
  prepared.opClass = OpClass::Elementwise;
  bool constant = true;
  for (size_t i = 1; i < 5; ++i) constant = constant && ctx.constant(i) != nullptr;
  if (constant) {
    BatchNormAffine affine = batchNormAffine(ctx.constant(1)->data<float>(), ctx.constant(2)->data<float>(),
                                             ctx.constant(3)->data<float>(), ctx.constant(4)->data<float>(), channels, eps);
    prepared.kernel = makeKernel([affine = std::move(affine), batch, channels, plane](
                                     std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& run) {
      applyAffine(inputs[0].data<float>(), outputs[0].data<float>(), affine.multiplier.data(), affine.offset.data(), batch,
                  channels, plane, run);
    });
  } else {
    prepared.kernel = makeKernel([batch, channels, plane, eps](std::span<const Tensor> inputs, std::span<Tensor> outputs,
                                                               const RunContext& run) {
      BatchNormAffine affine = batchNormAffine(inputs[1].data<float>(), inputs[2].data<float>(), inputs[3].data<float>(),
                                               inputs[4].data<float>(), channels, eps);
      applyAffine(inputs[0].data<float>(), outputs[0].data<float>(), affine.multiplier.data(), affine.offset.data(), batch,
                  channels, plane, run);
    });
  }
  return prepared;
}

}  // namespace cleave

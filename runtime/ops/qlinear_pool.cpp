// com.microsoft QLinearAveragePool and QLinearGlobalAveragePool on int8 NCHW data, with the
// output quantised as the input (TFLM's average pool requires it, and so does cleave's kernel
// cleave_q_average_pool, which divides by the taps inside the image and rounds halves away from
// zero). Channels-first, each channel's plane is pooled as a one-channel NHWC image, so no
// transposes are needed; channels-last (the layout plan's choice next to int8 convolutions) the
// kernels take the data as it is.
#include <fmt/format.h>

#include "runtime/int8_fast/max_pool.h"
#include "runtime/ops/pool.h"
#include "runtime/ops/qlinear_common.h"

namespace cleave {
namespace {

// Inputs 1-4 as equal input and output quantisations; returns nothing useful beyond the check.
Status requireSameQuantisation(const NodeContext& ctx) {
  Result<ActivationScale> x = activationScale(ctx, 1, 2);
  if (!x) return x.error();
  Result<ActivationScale> y = activationScale(ctx, 3, 4);
  if (!y) return y.error();
  if (x->scale != y->scale || x->zeroPoint != y->zeroPoint)
    return ctx.error("the int8 kernel needs the output quantised as the input (one scale and zero point)");
  return {};
}

PreparedNode poolNode(const Shape& outShape, cleave_q_pool_shape shape) {
  PreparedNode prepared;
  prepared.outputTypes = {TensorType{DType::I8, outShape}};
  prepared.macs = int64_t{shape.batch} * shape.channels * shape.out_height * shape.out_width * shape.kernel_height *
                  shape.kernel_width;
  prepared.kernel = makeKernel([shape](std::span<const Tensor> in, std::span<Tensor> out, const RunContext&) {
    cleave_q_average_pool(&shape, in[0].data<int8_t>(), out[0].data<int8_t>());
  });
  return prepared;
}

// The same pooling over NHWC data: the batch and channels the NCHW form folds into planes.
cleave_q_pool_shape channelsLast(cleave_q_pool_shape shape, const Shape& nchw) {
  shape.batch = static_cast<int32_t>(nchw[0]);
  shape.channels = static_cast<int32_t>(nchw[1]);
  return shape;
}

// 2-D geometry of an (average or max) pooling node over NCHW planes, checked against what the
// int8 kernels do: no dilations, padding left out of averages.
Result<cleave_q_pool_shape> planeGeometry(const NodeContext& ctx) {
  const Shape& x = ctx.input(0).shape;
  if (x.size() != 4) return ctx.error("only 2-D pooling (an NCHW input) has an int8 kernel");
  Result<PoolGeometry> geometry = poolGeometry(ctx, x);
  if (!geometry) return geometry.error();
  const PoolGeometry& g = *geometry;
  if (g.dilation[1] != 1 || g.dilation[2] != 1) return ctx.error("the int8 kernel has no dilations");
  cleave_q_pool_shape shape{};
  shape.batch = static_cast<int32_t>(x[0] * x[1]);
  shape.in_height = static_cast<int32_t>(x[2]);
  shape.in_width = static_cast<int32_t>(x[3]);
  shape.channels = 1;
  shape.out_height = static_cast<int32_t>(g.out[1]);
  shape.out_width = static_cast<int32_t>(g.out[2]);
  shape.kernel_height = static_cast<int32_t>(g.kernel[1]);
  shape.kernel_width = static_cast<int32_t>(g.kernel[2]);
  shape.stride_height = static_cast<int32_t>(g.stride[1]);
  shape.stride_width = static_cast<int32_t>(g.stride[2]);
  shape.pad_top = static_cast<int32_t>(g.padBegin[1]);
  shape.pad_left = static_cast<int32_t>(g.padBegin[2]);
  shape.activation_min = -128;
  shape.activation_max = 127;
  return shape;
}

Result<cleave_q_pool_shape> averagePoolShape(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 5, 5));
  CLEAVE_TRY(requireInt8Activation(ctx, 0));
  CLEAVE_TRY(requireSameQuantisation(ctx));
  Result<int64_t> channelsLast = ctx.attributes().getInt("channels_last", 0);
  if (!channelsLast || *channelsLast != 0) return ctx.error("channels_last must be 0");
  const Shape& x = ctx.input(0).shape;
  if (ctx.node.opType == "QLinearGlobalAveragePool") {
    if (x.size() != 4) return ctx.error("only an NCHW input has an int8 kernel");
    cleave_q_pool_shape shape{};
    shape.batch = static_cast<int32_t>(x[0] * x[1]);
    shape.in_height = shape.kernel_height = static_cast<int32_t>(x[2]);
    shape.in_width = shape.kernel_width = static_cast<int32_t>(x[3]);
    shape.channels = 1;
    shape.out_height = shape.out_width = 1;
    shape.stride_height = shape.stride_width = 1;
    shape.activation_min = -128;
    shape.activation_max = 127;
    return shape;
  }
  Result<cleave_q_pool_shape> shape = planeGeometry(ctx);
  if (!shape) return shape;
  Result<int64_t> includePad = ctx.attributes().getInt("count_include_pad", 0);
  Result<PoolGeometry> g = poolGeometry(ctx, x);
  const bool padded = g && g->padBegin[1] + g->padBegin[2] + g->padEnd[1] + g->padEnd[2] > 0;
  if (!includePad || (*includePad != 0 && padded))
    return ctx.error("the int8 kernel leaves padding out of an average (count_include_pad must be 0)");
  return shape;
}

}  // namespace

Result<PreparedNode> prepareQLinearAveragePool(const NodeContext& ctx) {
  Result<cleave_q_pool_shape> shape = averagePoolShape(ctx);
  if (!shape) return shape.error();
  const Shape& x = ctx.input(0).shape;
  return poolNode({x[0], x[1], shape->out_height, shape->out_width}, *shape);
}

Result<PreparedNode> prepareQLinearGlobalAveragePool(const NodeContext& ctx) { return prepareQLinearAveragePool(ctx); }

std::unique_ptr<Kernel> qlinearAveragePoolNhwc(const NodeContext& ctx) {
  Result<cleave_q_pool_shape> shape = averagePoolShape(ctx);
  if (!shape) return nullptr;
  const cleave_q_pool_shape nhwc = channelsLast(*shape, ctx.input(0).shape);
  return makeKernel([nhwc](std::span<const Tensor> in, std::span<Tensor> out, const RunContext&) {
    cleave_q_average_pool(&nhwc, in[0].data<int8_t>(), out[0].data<int8_t>());
  });
}

std::unique_ptr<Kernel> int8MaxPoolNhwc(const NodeContext& ctx) {
  if (ctx.inputCount() != 1 || ctx.input(0).dtype != DType::I8 || ctx.node.outputs.size() != 1) return nullptr;
  Result<int64_t> storageOrder = ctx.attributes().getInt("storage_order", 0);
  Result<cleave_q_pool_shape> shape = planeGeometry(ctx);
  if (!storageOrder || *storageOrder != 0 || !shape) return nullptr;
  const cleave_q_pool_shape nhwc = channelsLast(*shape, ctx.input(0).shape);
  return makeKernel([nhwc](std::span<const Tensor> in, std::span<Tensor> out, const RunContext&) {
    int8fast::maxPool(nhwc, in[0].data<int8_t>(), out[0].data<int8_t>());
  });
}

}  // namespace cleave

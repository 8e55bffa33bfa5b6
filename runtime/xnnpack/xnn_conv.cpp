// Conv on XNNPACK: one convolution operator with the weights packed at prepare (dense, grouped
// and depthwise alike: XNNPACK picks its micro-kernel from the shapes), then FusedConv's
// residual as an in-place add and any activation the output clamp cannot carry.
#include <vector>

#include "runtime/ops/conv.h"
#include "runtime/xnnpack/xnn_activation.h"
#include "runtime/xnnpack/xnn_kernels.h"
#include "runtime/xnnpack/xnn_support.h"
#include "runtime/xnnpack/xnn_gemm_conv.h"
#include "runtime/xnnpack/xnn_winograd.h"

namespace cleave::xnn {
namespace {

class ConvolutionNhwc final : public Kernel {
 public:
  ConvolutionNhwc(const ConvParams& p, Operator conv, Operator residualAdd, std::unique_ptr<InPlaceActivation> act,
                  int64_t heldBytes)
      : batch_(static_cast<size_t>(p.batch)),
        height_(static_cast<size_t>(p.inputSpatial[0])),
        width_(static_cast<size_t>(p.inputSpatial[1])),
        outputShape_{static_cast<size_t>(p.outputShape[0]), static_cast<size_t>(p.outputShape[2]),
                     static_cast<size_t>(p.outputShape[3]), static_cast<size_t>(p.outputShape[1])},
        conv_(std::move(conv)),
        residualAdd_(std::move(residualAdd)),
        activation_(std::move(act)),
        heldBytes_(heldBytes) {}

  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    float* y = outputs[0].data<float>();
    xnn_setup_convolution2d_nhwc_f32(conv_.get(), batch_, height_, width_, inputs[0].data<float>(), y,
                                     ctx.xnnThreadpool);
    xnn_run_operator(conv_.get(), ctx.xnnThreadpool);
    if (residualAdd_) {
      xnn_setup_add_nd_f32(residualAdd_.get(), 4, outputShape_.data(), 4, outputShape_.data(), y,
                           inputs[3].data<float>(), y, ctx.xnnThreadpool);
      xnn_run_operator(residualAdd_.get(), ctx.xnnThreadpool);
    }
    if (activation_) activation_->run(y, ctx);
  }

  int64_t heldBytes() const override { return heldBytes_; }

 private:
  size_t batch_, height_, width_;
  std::array<size_t, 4> outputShape_;
  Operator conv_;
  Operator residualAdd_;
  std::unique_ptr<InPlaceActivation> activation_;
  int64_t heldBytes_;
};

// Stands in for the input and output at the set-up done at prepare: set-up only computes
// addresses from them (the indirection buffer, which the operator keeps and heldBytes counts).
// Each run sets up again with the real buffers.
alignas(64) float placeholder[64];

}  // namespace

std::unique_ptr<Kernel> convolutionNhwc(const NodeContext& ctx) {
  if (!available()) return nullptr;
  Result<ConvParams> parsed = parseConvParams(ctx);
  if (!parsed || parsed->spatialRank != 2 || ctx.input(0).dtype != DType::F32) return nullptr;
  const ConvParams& p = *parsed;
  if (winogradCovers(p))
    if (auto winograd = winogradConvolutionNhwc(ctx, p)) return winograd;
  if (auto onBlas = gemmConvolutionNhwc(ctx, p)) return onBlas;
  const Tensor* w = ctx.constant(1);
  const Tensor* b = ctx.hasInput(2) ? ctx.constant(2) : nullptr;
  if (!w || (ctx.hasInput(2) && !b)) return nullptr;
  bool hasResidual = ctx.hasInput(3);

  const int64_t inPerGroup = p.inChannelsPerGroup(), outPerGroup = p.outChannelsPerGroup();
  std::vector<float> weights = channelsLastWeights(w->data<float>(), p.outChannels, inPerGroup, p.kernelSize());
  // The clamp goes on the operator that writes last before the activation.
  float convMin = hasResidual ? -std::numeric_limits<float>::infinity() : clampMin(p.activation);
  float convMax = hasResidual ? std::numeric_limits<float>::infinity() : clampMax(p.activation);

  MemoryMeter held;
  xnn_operator_t conv = nullptr;
  auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  xnn_status status = xnn_create_convolution2d_nhwc_f32(
      u32(p.padsBegin[0]), u32(p.padsEnd[1]), u32(p.padsEnd[0]), u32(p.padsBegin[1]), u32(p.kernel[0]),
      u32(p.kernel[1]), u32(p.strides[0]), u32(p.strides[1]), u32(p.dilations[0]), u32(p.dilations[1]), u32(p.group),
      static_cast<size_t>(inPerGroup), static_cast<size_t>(outPerGroup), static_cast<size_t>(p.inChannels),
      static_cast<size_t>(p.outChannels), weights.data(), b ? b->data<float>() : nullptr, convMin, convMax, 0, &conv);
  if (status != xnn_status_success) return nullptr;
  Operator convOp(conv);
  Operator residualAdd;
  if (hasResidual) {
    xnn_operator_t add = nullptr;
    if (xnn_create_add_nd_f32(clampMin(p.activation), clampMax(p.activation), 0, &add) != xnn_status_success)
      return nullptr;
    residualAdd.reset(add);
  }
  auto activation = InPlaceActivation::create(p.activation, shapeNumel(p.outputShape));
  xnn_setup_convolution2d_nhwc_f32(conv, static_cast<size_t>(p.batch), static_cast<size_t>(p.inputSpatial[0]),
                                   static_cast<size_t>(p.inputSpatial[1]), placeholder, placeholder, nullptr);
  return std::make_unique<ConvolutionNhwc>(p, std::move(convOp), std::move(residualAdd), std::move(activation),
                                           held.bytes());
}

}  // namespace cleave::xnn

// QLinearConv (ONNX opset 10): a 2-D convolution of int8 data with constant int8 weights (zero
// points 0, per tensor or per output channel) and an int32 bias, on the int8 reference kernel
// cleave_q_conv. The graph's tensors are NCHW and the kernel's NHWC, so the kernel moves its
// input and output through the session's workspace. Ungrouped convolutions take the VNNI fast
// path where the build has it (int8_fast/packed_gemm.h), byte-identical to the reference.
#include <fmt/format.h>

#include <optional>

#include "runtime/int8_fast/depthwise.h"
#include "runtime/int8_fast/packed_gemm.h"
#include "runtime/ops/conv.h"
#include "runtime/ops/qlinear_common.h"

namespace cleave {
namespace {

class QLinearConvKernel final : public Kernel {
 public:
  QLinearConvKernel(cleave_q_conv_shape shape, std::vector<int8_t> weights, std::vector<int32_t> bias,
                    ChannelRequant requant, bool nhwc)
      : shape_(shape), weights_(std::move(weights)), bias_(std::move(bias)), requant_(std::move(requant)), nhwc_(nhwc) {
    const bool depthwise = shape_.groups == shape_.in_channels && shape_.out_channels == shape_.in_channels;
    if (depthwise && shape_.groups > 1 && int8fast::available())
      depthwise_.emplace(shape_, weights_.data(), bias_.empty() ? nullptr : bias_.data(), requant_.view());
    if (shape_.groups == 1 && int8fast::available()) {
      const cleave_q_requant view = requant_.view();
      fast_.emplace(weights_.data(), bias_.empty() ? nullptr : bias_.data(), shape_.out_channels,
                    shape_.kernel_height * shape_.kernel_width, shape_.in_channels, shape_.input_zero_point, view);
    }
  }

  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    const int64_t inPlane = int64_t{shape_.in_height} * shape_.in_width;
    const int64_t outPlane = int64_t{shape_.out_height} * shape_.out_width;
    const int8_t* input = inputs[0].data<int8_t>();
    auto* in = reinterpret_cast<int8_t*>(ctx.workspace.data());
    // Channels-last, the output is written in place; channels-first, it is moved afterwards.
    int8_t* out = nhwc_ ? outputs[0].data<int8_t>() : in + alignedBytes(inputBytes());
    if (depthwise_) {  // channels-last only
      if (!nhwc_) {
        nchwToNhwc(input, in, shape_.batch, shape_.in_channels, inPlane);
        input = in;
      }
      depthwise_->run(input, out);
    } else if (fast_) {  // reads either layout itself
      int8fast::conv(shape_, *fast_, input, !nhwc_, out, reinterpret_cast<uint8_t*>(in + scratchOffset()));
    } else {
      if (!nhwc_) {
        nchwToNhwc(input, in, shape_.batch, shape_.in_channels, inPlane);
        input = in;
      }
      const cleave_q_requant requant = requant_.view();
      cleave_q_conv(&shape_, input, weights_.data(), bias_.empty() ? nullptr : bias_.data(), &requant, out);
    }
    if (!nhwc_) nhwcToNchw(out, outputs[0].data<int8_t>(), shape_.batch, shape_.out_channels, outPlane);
  }

  int64_t heldBytes() const override {
    return static_cast<int64_t>(weights_.size() + bias_.size() * sizeof(int32_t)) + requant_.bytes() +
           (fast_ ? fast_->bytes() : 0) + (depthwise_ ? depthwise_->bytes() : 0);
  }
  int64_t workspaceBytes(int) const override {
    return scratchOffset() + (fast_ ? int8fast::convScratchBytes(shape_, *fast_) : 0);
  }

 private:
  static int64_t alignedBytes(int64_t bytes) {
    const auto a = static_cast<int64_t>(TENSOR_ALIGNMENT);
    return (bytes + a - 1) / a * a;
  }
  // Channels-first: the NHWC input and output copies, then the fast path's padded image.
  int64_t scratchOffset() const { return nhwc_ ? 0 : alignedBytes(inputBytes()) + alignedBytes(outputBytes()); }
  int64_t inputBytes() const { return int64_t{shape_.batch} * shape_.in_height * shape_.in_width * shape_.in_channels; }
  int64_t outputBytes() const {
    return int64_t{shape_.batch} * shape_.out_height * shape_.out_width * shape_.out_channels;
  }

  cleave_q_conv_shape shape_;
  std::vector<int8_t> weights_;  // [out channels][kernel h][kernel w][in channels per group]
  std::vector<int32_t> bias_;
  ChannelRequant requant_;
  bool nhwc_;
  std::optional<int8fast::PackedGemm> fast_;  // the same weights packed for VNNI, where available
  std::optional<int8fast::DepthwiseConv> depthwise_;  // or for the AVX-512 depthwise kernel
};

// Everything both layouts' kernels are built from.
struct ConvSetup {
  cleave_q_conv_shape shape{};
  std::vector<int8_t> weights;
  std::vector<int32_t> bias;
  ChannelRequant requant;
  Shape outputShape;
  int64_t macs = 0;
  bool depthwise = false;
};

Result<ConvSetup> setUp(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 8, 9));
  CLEAVE_TRY(requireInt8Activation(ctx, 0));
  const Tensor* w = ctx.constant(3);
  if (!w || w->dtype() != DType::I8 || w->rank() != 4)
    return ctx.error("weights (input 3) must be a constant int8 tensor [out, in / group, kernel h, kernel w]");
  Result<ConvParams> params = parseConvParams(ctx.attributes(), ctx.input(0).shape, w->shape());
  if (!params) return ctx.error(params.error().message);
  if (params->spatialRank != 2) return ctx.error("only 2-D convolutions have an int8 kernel");
  Result<ActivationScale> x = activationScale(ctx, 1, 2);
  if (!x) return x.error();
  Result<ActivationScale> y = activationScale(ctx, 6, 7);
  if (!y) return y.error();
  const int64_t outChannels = params->outChannels;
  Result<std::vector<float>> scales = weightScales(ctx, 4, 5, outChannels);
  if (!scales) return scales.error();
  std::vector<int32_t> bias;
  if (ctx.hasInput(8)) {
    const Tensor* b = ctx.constant(8);
    if (!b || b->dtype() != DType::I32 || b->numel() != outChannels)
      return ctx.error(fmt::format("bias (input 8) must be a constant int32 tensor of {} values", outChannels));
    bias.assign(b->data<int32_t>(), b->data<int32_t>() + outChannels);
  }

  cleave_q_conv_shape shape{};
  shape.batch = static_cast<int32_t>(params->batch);
  shape.in_height = static_cast<int32_t>(params->inputSpatial[0]);
  shape.in_width = static_cast<int32_t>(params->inputSpatial[1]);
  shape.in_channels = static_cast<int32_t>(params->inChannels);
  shape.out_height = static_cast<int32_t>(params->outputShape[2]);
  shape.out_width = static_cast<int32_t>(params->outputShape[3]);
  shape.out_channels = static_cast<int32_t>(outChannels);
  shape.kernel_height = static_cast<int32_t>(params->kernel[0]);
  shape.kernel_width = static_cast<int32_t>(params->kernel[1]);
  shape.stride_height = static_cast<int32_t>(params->strides[0]);
  shape.stride_width = static_cast<int32_t>(params->strides[1]);
  shape.dilation_height = static_cast<int32_t>(params->dilations[0]);
  shape.dilation_width = static_cast<int32_t>(params->dilations[1]);
  shape.pad_top = static_cast<int32_t>(params->padsBegin[0]);
  shape.pad_left = static_cast<int32_t>(params->padsBegin[1]);
  shape.groups = static_cast<int32_t>(params->group);
  shape.input_zero_point = x->zeroPoint;

  std::vector<int8_t> weights = convWeightsOhwi(*w);

  ConvSetup setup;
  setup.shape = shape;
  setup.weights = std::move(weights);
  setup.bias = std::move(bias);
  setup.requant = ChannelRequant::forScales(x->scale, *scales, outChannels, *y);
  setup.outputShape = params->outputShape;
  setup.macs = params->macs();
  setup.depthwise = params->isDepthwise();
  return setup;
}

}  // namespace

Result<PreparedNode> prepareQLinearConv(const NodeContext& ctx) {
  Result<ConvSetup> setup = setUp(ctx);
  if (!setup) return setup.error();
  PreparedNode prepared;
  prepared.outputTypes = {TensorType{DType::I8, setup->outputShape}};
  prepared.macs = setup->macs;
  prepared.opClass = setup->depthwise ? OpClass::Depthwise : OpClass::Conv;
  prepared.kernel = std::make_unique<QLinearConvKernel>(setup->shape, std::move(setup->weights), std::move(setup->bias),
                                                        std::move(setup->requant), false);
  return prepared;
}

std::unique_ptr<Kernel> qlinearConvNhwc(const NodeContext& ctx) {
  Result<ConvSetup> setup = setUp(ctx);
  if (!setup) return nullptr;
  return std::make_unique<QLinearConvKernel>(setup->shape, std::move(setup->weights), std::move(setup->bias),
                                             std::move(setup->requant), true);
}

}  // namespace cleave

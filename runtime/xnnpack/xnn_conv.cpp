// Conv on XNNPACK: convolution operators with the weights packed at prepare (dense, grouped
// and depthwise alike: XNNPACK picks its micro-kernel from the shapes), then FusedConv's
// residual as an in-place add and any activation the output clamp cannot carry.
//
// On one thread XNNPACK walks the output a few pixels at a time and, for each such row block,
// all output channels: every row block reads all the packed weights. When they are larger than
// a core's L2 cache they come from L3 or memory once per row block. A dense convolution with
// that many weights is therefore split by output channels into operators whose weights fit in
// L2, each writing its channels of every output pixel (XNNPACK's output pixel stride):
// shufflenet_v2's last 1x1 (464 -> 1024 channels on 7x7, 1.9 MB of weights) went from 0.44 to
// 0.34 ms on a Zen 5 core.
#include <algorithm>
#include <vector>

#include "runtime/ops/conv.h"
#include "runtime/xnnpack/depthwise_nhwc.h"
#include "runtime/xnnpack/conv_avx512.h"
#include "runtime/xnnpack/xnn_activation.h"
#include "runtime/xnnpack/xnn_kernels.h"
#include "runtime/xnnpack/xnn_support.h"
#include "runtime/xnnpack/xnn_gemm.h"
#include "runtime/xnnpack/xnn_gemm_conv.h"
#include "runtime/xnnpack/xnn_winograd.h"

namespace cleave::xnn {
namespace {

// Packed weights per operator that stay in a core's L2 (512 KB on Zen 3, 1 MB on Zen 4/5 and
// the Cortex-A72/A76) beside the pixels it reads.
constexpr int64_t WEIGHT_BLOCK_BYTES = 256 * 1024;
// Output channels per block are a multiple of this (XNNPACK's widest micro-kernel tile).
constexpr int64_t CHANNEL_QUANTUM = 16;
// Fewer output pixels than this fit in one or two of XNNPACK's row blocks: nothing to gain.
constexpr int64_t MIN_PIXELS_TO_SPLIT = 16;

// The first output channel of each operator (and the total at the end).
std::vector<int64_t> channelBlocks(const ConvParams& p) {
  const int64_t perChannel = p.inChannelsPerGroup() * p.kernelSize() * static_cast<int64_t>(sizeof(float));
  const int64_t pixels = p.batch * p.outputShape[2] * p.outputShape[3];
  int64_t block = p.outChannels;
  if (p.group == 1 && pixels >= MIN_PIXELS_TO_SPLIT && perChannel * p.outChannels > WEIGHT_BLOCK_BYTES)
    block = std::max(CHANNEL_QUANTUM, WEIGHT_BLOCK_BYTES / perChannel / CHANNEL_QUANTUM * CHANNEL_QUANTUM);
  std::vector<int64_t> starts;
  for (int64_t first = 0; first < p.outChannels; first += block) starts.push_back(first);
  starts.push_back(p.outChannels);
  return starts;
}

class ConvolutionNhwc final : public Kernel {
 public:
  ConvolutionNhwc(const ConvParams& p, std::vector<Operator> convs, std::vector<int64_t> firstChannels,
                  Operator residualAdd, std::unique_ptr<InPlaceActivation> act, int64_t heldBytes)
      : batch_(static_cast<size_t>(p.batch)),
        height_(static_cast<size_t>(p.inputSpatial[0])),
        width_(static_cast<size_t>(p.inputSpatial[1])),
        outputShape_{static_cast<size_t>(p.outputShape[0]), static_cast<size_t>(p.outputShape[2]),
                     static_cast<size_t>(p.outputShape[3]), static_cast<size_t>(p.outputShape[1])},
        convs_(std::move(convs)),
        firstChannels_(std::move(firstChannels)),
        residualAdd_(std::move(residualAdd)),
        activation_(std::move(act)),
        heldBytes_(heldBytes) {}

  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    float* y = outputs[0].data<float>();
    for (size_t i = 0; i < convs_.size(); ++i) {
      xnn_setup_convolution2d_nhwc_f32(convs_[i].get(), batch_, height_, width_, inputs[0].data<float>(),
                                       y + firstChannels_[i], ctx.xnnThreadpool);
      xnn_run_operator(convs_[i].get(), ctx.xnnThreadpool);
    }
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
  std::vector<Operator> convs_;        // one per block of output channels
  std::vector<int64_t> firstChannels_;  // each block's first output channel
  Operator residualAdd_;
  std::unique_ptr<InPlaceActivation> activation_;
  int64_t heldBytes_;
};

}  // namespace

std::unique_ptr<Kernel> convolutionNhwc(const NodeContext& ctx) {
  if (!available()) return nullptr;
  Result<ConvParams> parsed = parseConvParams(ctx);
  if (!parsed || parsed->spatialRank != 2 || ctx.input(0).dtype != DType::F32) return nullptr;
  const ConvParams& p = *parsed;
  if (winogradCovers(p))
    if (auto winograd = winogradConvolutionNhwc(ctx, p)) return winograd;
  if (convAvx512Covers(p) && !gemmOnBlas())
    if (auto direct = convAvx512(ctx, p)) return direct;
  if (depthwisePreferred(p))
    if (auto depthwise = depthwiseConvolutionNhwc(ctx, p)) return depthwise;
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
  auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
  const std::vector<int64_t> blocks = channelBlocks(p);
  const int64_t perChannel = inPerGroup * p.kernelSize();
  std::vector<Operator> convs;
  for (size_t i = 0; i + 1 < blocks.size(); ++i) {
    const int64_t first = blocks[i], count = blocks[i + 1] - blocks[i];
    const bool whole = count == p.outChannels;  // grouped convolutions are never split
    xnn_operator_t conv = nullptr;
    xnn_status status = xnn_create_convolution2d_nhwc_f32(
        u32(p.padsBegin[0]), u32(p.padsEnd[1]), u32(p.padsEnd[0]), u32(p.padsBegin[1]), u32(p.kernel[0]),
        u32(p.kernel[1]), u32(p.strides[0]), u32(p.strides[1]), u32(p.dilations[0]), u32(p.dilations[1]),
        u32(p.group), static_cast<size_t>(inPerGroup), static_cast<size_t>(whole ? outPerGroup : count),
        static_cast<size_t>(p.inChannels), static_cast<size_t>(p.outChannels), weights.data() + first * perChannel,
        b ? b->data<float>() + first : nullptr, convMin, convMax, 0, &conv);
    if (status != xnn_status_success) return nullptr;
    convs.emplace_back(conv);
    SetupPlaceholder input(p.batch * p.inChannels * shapeNumel(p.inputSpatial));
    SetupPlaceholder output(shapeNumel(p.outputShape));
    xnn_setup_convolution2d_nhwc_f32(conv, static_cast<size_t>(p.batch), static_cast<size_t>(p.inputSpatial[0]),
                                     static_cast<size_t>(p.inputSpatial[1]), input.data(), output.data(), nullptr);
  }
  Operator residualAdd;
  if (hasResidual) {
    xnn_operator_t add = nullptr;
    if (xnn_create_add_nd_f32(clampMin(p.activation), clampMax(p.activation), 0, &add) != xnn_status_success)
      return nullptr;
    residualAdd.reset(add);
  }
  auto activation = InPlaceActivation::create(p.activation, shapeNumel(p.outputShape));
  return std::make_unique<ConvolutionNhwc>(p, std::move(convs), std::vector<int64_t>(blocks.begin(), blocks.end() - 1),
                                           std::move(residualAdd), std::move(activation), held.bytes());
}

}  // namespace cleave::xnn

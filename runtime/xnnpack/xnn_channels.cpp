// Picking channels out of channels-last activations: Slice along channels and Gather along
// channels with constant indices (what ShuffleNet's channel shuffles become, see
// passes/channel_shuffle.h). In NHWC a pixel's channels are contiguous, so a channel range is one
// strided copy (XNNPACK's copy_nc), a shuffle is XNNPACK's channel_shuffle_nc, and any other
// pick is a gather within each pixel.
#include <numeric>
#include <vector>

#include "runtime/ops/slice.h"
#include "runtime/xnnpack/xnn_kernels.h"
#include "runtime/xnnpack/xnn_support.h"

namespace cleave::xnn {
namespace {

bool isChannelAxis(int64_t axis) { return axis == 1 || axis == -3; }

// Channels [first, first + count) of every pixel, or a shuffle: one XNNPACK operator over the
// pixels, reading from `inputOffset` floats into each input pixel.
class ChannelCopyNhwc final : public Kernel {
 public:
  enum class Kind { Copy, Shuffle };
  ChannelCopyNhwc(Kind kind, Operator op, size_t inputOffset, size_t pixels)
      : kind_(kind), op_(std::move(op)), inputOffset_(inputOffset), pixels_(pixels) {}

  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    const float* x = inputs[0].data<float>() + inputOffset_;
    float* y = outputs[0].data<float>();
    if (kind_ == Kind::Copy)
      xnn_setup_copy_nc_x32(op_.get(), pixels_, x, y, ctx.xnnThreadpool);
    else
      xnn_setup_channel_shuffle_nc_x32(op_.get(), pixels_, x, y, ctx.xnnThreadpool);
    xnn_run_operator(op_.get(), ctx.xnnThreadpool);
  }

 private:
  Kind kind_;
  Operator op_;
  size_t inputOffset_;
  size_t pixels_;
};

// Any other pick: output channel j of a pixel is input channel indices[j].
class ChannelGatherNhwc final : public Kernel {
 public:
  ChannelGatherNhwc(std::vector<int32_t> indices, int64_t inChannels, int64_t pixels)
      : indices_(std::move(indices)), inChannels_(inChannels), pixels_(pixels) {}

  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    const float* x = inputs[0].data<float>();
    float* y = outputs[0].data<float>();
    const auto outChannels = static_cast<int64_t>(indices_.size());
    const int32_t* index = indices_.data();
    constexpr int64_t MIN_PIXELS = 64;
    ctx.parallelFor(pixels_, MIN_PIXELS, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const float* in = x + p * inChannels_;
        float* out = y + p * outChannels;
        for (int64_t j = 0; j < outChannels; ++j) out[j] = in[index[j]];
      }
    });
  }

  int64_t heldBytes() const override { return static_cast<int64_t>(indices_.size() * sizeof(int32_t)); }

 private:
  std::vector<int32_t> indices_;
  int64_t inChannels_;
  int64_t pixels_;
};

std::unique_ptr<Kernel> copyChannels(int64_t first, int64_t count, int64_t inChannels, size_t pixels) {
  xnn_operator_t op = nullptr;
  if (xnn_create_copy_nc_x32(static_cast<size_t>(count), static_cast<size_t>(inChannels), static_cast<size_t>(count),
                             0, &op) != xnn_status_success)
    return nullptr;
  return std::make_unique<ChannelCopyNhwc>(ChannelCopyNhwc::Kind::Copy, Operator(op), static_cast<size_t>(first),
                                           pixels);
}

// The group count g when output channel j * g + i reads input channel i * (C / g) + j for all of
// the C channels (a channel shuffle), else 0.
int64_t shuffleGroups(const std::vector<int64_t>& indices, int64_t channels) {
  if (static_cast<int64_t>(indices.size()) != channels || channels < 4 || indices[0] != 0) return 0;
  const int64_t perGroup = indices[1];  // output channel 1 is input channel C / g
  if (perGroup < 2 || channels % perGroup != 0) return 0;
  const int64_t groups = channels / perGroup;
  for (int64_t i = 0; i < groups; ++i)
    for (int64_t j = 0; j < perGroup; ++j)
      if (indices[static_cast<size_t>(j * groups + i)] != i * perGroup + j) return 0;
  return groups;
}

bool rank4Float(const NodeContext& ctx, const Shape& outputShape) {
  return available() && outputShape.size() == 4 && ctx.input(0).dtype == DType::F32 &&
         ctx.input(0).shape.size() == 4;
}

}  // namespace

std::unique_ptr<Kernel> channelSliceNhwc(const NodeContext& ctx, const Shape& outputShape) {
  if (!rank4Float(ctx, outputShape)) return nullptr;
  Result<std::vector<SliceAxis>> plan = slicePlanOf(ctx);
  if (!plan) return nullptr;
  const Shape& in = ctx.input(0).shape;
  for (size_t axis : {0, 2, 3})
    if ((*plan)[axis].start != 0 || (*plan)[axis].step != 1 || (*plan)[axis].count != in[axis]) return nullptr;
  const SliceAxis& channels = (*plan)[1];
  if (channels.step != 1 || channels.count == 0) return nullptr;
  return copyChannels(channels.start, channels.count, in[1],
                      static_cast<size_t>(outputShape[0] * outputShape[2] * outputShape[3]));
}

std::unique_ptr<Kernel> channelGatherNhwc(const NodeContext& ctx, const Shape& outputShape) {
  const Tensor* constant = ctx.constant(1);
  Result<int64_t> axis = ctx.attributes().getInt("axis", 0);
  if (!rank4Float(ctx, outputShape) || !constant || constant->shape().size() != 1 || !axis || !isChannelAxis(*axis))
    return nullptr;
  const int64_t inChannels = ctx.input(0).shape[1];
  std::vector<int64_t> indices = constant->toInt64s();
  for (int64_t& index : indices)
    if (index < 0) index += inChannels;  // prepare has range-checked them
  const auto pixels = static_cast<size_t>(outputShape[0] * outputShape[2] * outputShape[3]);
  const auto outChannels = static_cast<int64_t>(indices.size());
  if (outChannels == 0) return nullptr;

  std::vector<int64_t> range(indices.size());
  std::iota(range.begin(), range.end(), indices[0]);
  if (indices == range) return copyChannels(indices[0], outChannels, inChannels, pixels);
  if (int64_t groups = shuffleGroups(indices, inChannels)) {
    xnn_operator_t op = nullptr;
    const auto c = static_cast<size_t>(inChannels);
    if (xnn_create_channel_shuffle_nc_x32(static_cast<size_t>(groups), c / static_cast<size_t>(groups), c, c, 0,
                                          &op) != xnn_status_success)
      return nullptr;
    return std::make_unique<ChannelCopyNhwc>(ChannelCopyNhwc::Kind::Shuffle, Operator(op), 0, pixels);
  }
  return std::make_unique<ChannelGatherNhwc>(std::vector<int32_t>(indices.begin(), indices.end()), inChannels,
                                             static_cast<int64_t>(pixels));
}

}  // namespace cleave::xnn

// MaxPool, AveragePool and GlobalAveragePool on XNNPACK, channels-last, 2-D images.
#include <limits>

#include "runtime/ops/pool.h"
#include "runtime/xnnpack/xnn_kernels.h"
#include "runtime/xnnpack/xnn_support.h"

namespace cleave::xnn {
namespace {

constexpr float INF = std::numeric_limits<float>::infinity();

enum class Pooling : uint8_t { Max, Average, GlobalAverage };

class PoolingNhwc final : public Kernel {
 public:
  PoolingNhwc(Pooling kind, Operator op, size_t batch, size_t height, size_t width, int64_t heldBytes)
      : kind_(kind), op_(std::move(op)), batch_(batch), height_(height), width_(width), heldBytes_(heldBytes) {}

  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    setup(inputs[0].data<float>(), outputs[0].data<float>(), ctx.xnnThreadpool);
    xnn_run_operator(op_.get(), ctx.xnnThreadpool);
  }

  void setup(const float* x, float* y, pthreadpool* pool) const {
    switch (kind_) {
      case Pooling::Max: xnn_setup_max_pooling2d_nhwc_f32(op_.get(), batch_, height_, width_, x, y, pool); break;
      case Pooling::Average:
        xnn_setup_average_pooling2d_nhwc_f32(op_.get(), batch_, height_, width_, x, y, pool);
        break;
      case Pooling::GlobalAverage:
        xnn_setup_global_average_pooling_nwc_f32(op_.get(), batch_, height_ * width_, x, y, pool);
        break;
    }
  }

  int64_t heldBytes() const override { return heldBytes_; }
  void addHeldBytes(int64_t bytes) { heldBytes_ += bytes; }

 private:
  Pooling kind_;
  Operator op_;
  size_t batch_, height_, width_;
  int64_t heldBytes_;
};


}  // namespace

std::unique_ptr<Kernel> poolingNhwc(const NodeContext& ctx, const Shape& outputShape) {
  if (!available() || ctx.inputCount() != 1 || ctx.node.outputs.size() != 1) return nullptr;
  const Shape& x = ctx.input(0).shape;
  if (x.size() != 4 || ctx.input(0).dtype != DType::F32) return nullptr;
  const std::string& op = ctx.node.opType;
  size_t channels = static_cast<size_t>(x[1]);
  xnn_operator_t created = nullptr;
  Pooling kind;
  MemoryMeter held;
  if (op == "GlobalAveragePool") {
    kind = Pooling::GlobalAverage;
    if (xnn_create_global_average_pooling_nwc_f32(channels, channels, channels, -INF, INF, 0, &created))
      return nullptr;
  } else {
    Result<PoolGeometry> g = poolGeometry(ctx, x);
    if (!g) return nullptr;
    // Axis 0 of the geometry is the padding axis of a 2-D pool; 1 and 2 are H and W.
    auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
    // ceil_mode's extra windows become extra end padding, which XNNPACK's floor formula then counts.
    std::array<int64_t, 2> padEnd{};
    for (int d = 0; d < 2; ++d) {
      int64_t extent = (g->kernel[d + 1] - 1) * g->dilation[d + 1] + 1;
      int64_t needed = (g->out[d + 1] - 1) * g->stride[d + 1] + extent - g->in[d + 1] - g->padBegin[d + 1];
      padEnd[d] = std::max(g->padEnd[d + 1], needed);
    }
    bool extraPadding = padEnd[0] != g->padEnd[1] || padEnd[1] != g->padEnd[2];
    // XNNPACK sizes the output by the floor formula over the padded image; it must be ONNX's.
    for (int d = 0; d < 2; ++d) {
      int64_t extent = (g->kernel[d + 1] - 1) * g->dilation[d + 1] + 1;
      int64_t padded = g->in[d + 1] + g->padBegin[d + 1] + padEnd[d];
      if (padded < extent || (padded - extent) / g->stride[d + 1] + 1 != outputShape[d + 2]) return nullptr;
    }
    if (op == "MaxPool") {
      kind = Pooling::Max;
      if (xnn_create_max_pooling2d_nhwc_f32(u32(g->padBegin[1]), u32(padEnd[1]), u32(padEnd[0]), u32(g->padBegin[2]),
                                            u32(g->kernel[1]), u32(g->kernel[2]), u32(g->stride[1]),
                                            u32(g->stride[2]), u32(g->dilation[1]), u32(g->dilation[2]), channels,
                                            channels, channels, -INF, INF, 0, &created))
        return nullptr;
    } else if (op == "AveragePool") {
      kind = Pooling::Average;
      // XNNPACK averages over the window's pixels inside the image: ONNX's count_include_pad=0.
      // With padding counted, or ceil_mode windows past the padding, the portable kernel runs.
      Result<int64_t> includePad = ctx.attributes().getInt("count_include_pad", 0);
      bool anyPadding = g->padBegin[1] || g->padBegin[2] || g->padEnd[1] || g->padEnd[2];
      if (!includePad || (*includePad && anyPadding) || extraPadding || g->dilation[1] != 1 || g->dilation[2] != 1)
        return nullptr;
      if (xnn_create_average_pooling2d_nhwc_f32(u32(g->padBegin[1]), u32(padEnd[1]), u32(padEnd[0]),
                                                u32(g->padBegin[2]), u32(g->kernel[1]), u32(g->kernel[2]),
                                                u32(g->stride[1]), u32(g->stride[2]), channels, channels, channels,
                                                -INF, INF, 0, &created))
        return nullptr;
    } else {
      return nullptr;
    }
  }
  Operator pool(created);
  int64_t heldBytes = held.bytes();
  auto kernel = std::make_unique<PoolingNhwc>(kind, std::move(pool), static_cast<size_t>(x[0]),
                                              static_cast<size_t>(x[2]), static_cast<size_t>(x[3]), heldBytes);
  MemoryMeter setupBytes;  // what set-up allocates stays with the operator
  SetupPlaceholder input(shapeNumel(x)), output(shapeNumel(outputShape));
  kernel->setup(input.data(), output.data(), nullptr);
  kernel->addHeldBytes(setupBytes.bytes());
  return kernel;
}

}  // namespace cleave::xnn

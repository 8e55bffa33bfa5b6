// com.microsoft QGemm as cleave runs it: Y = A * B (or B') + C on int8 data, B constant int8
// with zero points 0 (per tensor or per output column), C an int32 bias at scale s_a * s_b, Y
// int8 (ONNX Runtime also allows a float Y; cleave does not). The int8 reference kernel
// cleave_q_fully_connected computes every row.
#include <fmt/format.h>

#include <optional>

#include "runtime/int8_fast/packed_gemm.h"
#include "runtime/ops/qlinear_common.h"

namespace cleave {
namespace {

class QGemmKernel final : public Kernel {
 public:
  QGemmKernel(int64_t rows, int64_t inner, int64_t columns, int32_t inputZeroPoint, std::vector<int8_t> weights,
              std::vector<int32_t> bias, ChannelRequant requant)
      : rows_(static_cast<int32_t>(rows)),
        inner_(static_cast<int32_t>(inner)),
        columns_(static_cast<int32_t>(columns)),
        inputZeroPoint_(inputZeroPoint),
        weights_(std::move(weights)),
        bias_(std::move(bias)),
        requant_(std::move(requant)) {
    if (int8fast::available())
      fast_.emplace(weights_.data(), bias_.empty() ? nullptr : bias_.data(), columns_, 1, inner_, inputZeroPoint_,
                    requant_.view());
  }

  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    if (fast_) {
      int8fast::fullyConnected(*fast_, rows_, inputs[0].data<int8_t>(), outputs[0].data<int8_t>(),
                               reinterpret_cast<uint8_t*>(ctx.workspace.data()));
      return;
    }
    const cleave_q_requant requant = requant_.view();
    cleave_q_fully_connected(rows_, inner_, columns_, inputs[0].data<int8_t>(), inputZeroPoint_, weights_.data(),
                             bias_.empty() ? nullptr : bias_.data(), &requant, outputs[0].data<int8_t>());
  }
  int64_t heldBytes() const override {
    return static_cast<int64_t>(weights_.size() + bias_.size() * sizeof(int32_t)) + requant_.bytes() +
           (fast_ ? fast_->bytes() : 0);
  }
  int64_t workspaceBytes(int) const override { return fast_ ? int64_t{rows_} * fast_->paddedChannels() : 0; }

 private:
  int32_t rows_, inner_, columns_, inputZeroPoint_;
  std::vector<int8_t> weights_;  // [out][in]
  std::vector<int32_t> bias_;
  ChannelRequant requant_;
  std::optional<int8fast::PackedGemm> fast_;
};

}  // namespace

Result<PreparedNode> prepareQGemm(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 6, 9));  // C (input 6) may be omitted; y_scale and y_zero_point are checked below
  CLEAVE_TRY(requireInt8Activation(ctx, 0));
  Result<int64_t> transA = ctx.attributes().getInt("transA", 0);
  Result<int64_t> transB = ctx.attributes().getInt("transB", 0);
  Result<float> alpha = ctx.attributes().getFloat("alpha", 1.0f);
  if (!transA || !transB || !alpha) return ctx.error("transA, transB and alpha must be an int, an int and a float");
  if (*transA != 0 || *alpha != 1.0f) return ctx.error("only transA = 0 and alpha = 1 have an int8 kernel");
  const Shape& a = ctx.input(0).shape;
  const Tensor* b = ctx.constant(3);
  if (a.size() != 2) return ctx.error("A must be 2-D");
  if (!b || b->dtype() != DType::I8 || b->rank() != 2)
    return ctx.error("B (input 3) must be a constant 2-D int8 tensor");
  const int64_t rows = a[0], inner = a[1];
  const int64_t columns = *transB ? b->dim(0) : b->dim(1);
  if ((*transB ? b->dim(1) : b->dim(0)) != inner)
    return ctx.error(fmt::format("A {} and B {} do not multiply", shapeString(a), shapeString(b->shape())));
  Result<ActivationScale> x = activationScale(ctx, 1, 2);
  if (!x) return x.error();
  if (!ctx.hasInput(7) || !ctx.hasInput(8)) return ctx.error("y_scale and y_zero_point are required (an int8 output)");
  Result<ActivationScale> y = activationScale(ctx, 7, 8);
  if (!y) return y.error();
  Result<std::vector<float>> scales = weightScales(ctx, 4, 5, columns);
  if (!scales) return scales.error();
  std::vector<int32_t> bias;
  if (ctx.hasInput(6)) {
    const Tensor* c = ctx.constant(6);
    if (!c || c->dtype() != DType::I32 || c->numel() != columns)
      return ctx.error(fmt::format("C (input 6) must be a constant int32 tensor of {} values", columns));
    bias.assign(c->data<int32_t>(), c->data<int32_t>() + columns);
  }
  std::vector<int8_t> weights = gemmWeightsOutIn(*b, *transB == 1);

  PreparedNode prepared;
  prepared.outputTypes = {TensorType{DType::I8, {rows, columns}}};
  prepared.macs = rows * inner * columns;
  prepared.opClass = OpClass::Gemm;
  prepared.kernel =
      std::make_unique<QGemmKernel>(rows, inner, columns, x->zeroPoint, std::move(weights), std::move(bias),
                                    ChannelRequant::forScales(x->scale, *scales, columns, *y));
  return prepared;
}

}  // namespace cleave

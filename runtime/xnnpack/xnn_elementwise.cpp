// Elementwise ops on XNNPACK: binary arithmetic and concatenation on channels-last activations,
// and the transcendental activations (Sigmoid, HardSwish, LeakyRelu) on any layout.
#include <limits>
#include <vector>

#include "runtime/layout.h"
#include "runtime/ops/activation.h"
#include "runtime/xnnpack/xnn_kernels.h"
#include "runtime/xnnpack/xnn_support.h"

namespace cleave::xnn {
namespace {

constexpr float INF = std::numeric_limits<float>::infinity();
// XNNPACK's micro-kernels may read up to 16 bytes past an operand; constants copied here carry
// that much slack.
constexpr size_t READ_SLACK_FLOATS = 16;

using Dims = std::array<size_t, 4>;

Dims toDims(const Shape& s) {
  return {static_cast<size_t>(s[0]), static_cast<size_t>(s[1]), static_cast<size_t>(s[2]), static_cast<size_t>(s[3])};
}

// One operand of a binary op: an activation (already channels-last, its buffer given at run
// time) or a constant, broadcast to rank 4 and laid out channels-last here once.
struct Operand {
  Dims dims{};
  std::vector<float> constant;  // empty for an activation
  bool isConstant() const { return !constant.empty(); }
};

std::optional<Operand> makeOperand(const NodeContext& ctx, size_t i) {
  Shape shape = ctx.input(i).shape;
  const Tensor* value = ctx.constant(i);
  if (!value) {
    if (shape.size() != 4) return std::nullopt;  // a lower-rank activation would broadcast across NHWC's order
    return Operand{toDims(nhwcShape(shape)), {}};
  }
  if (shape.size() > 4 || value->dtype() != DType::F32) return std::nullopt;
  while (shape.size() < 4) shape.insert(shape.begin(), 1);
  Operand operand{toDims(nhwcShape(shape)), std::vector<float>(static_cast<size_t>(shapeNumel(shape)) + READ_SLACK_FLOATS)};
  const float* src = value->data<float>();
  if (layoutFree(shape)) {
    std::copy(src, src + shapeNumel(shape), operand.constant.begin());
  } else {
    int64_t channels = shape[1], plane = shape[2] * shape[3];
    for (int64_t n = 0; n < shape[0]; ++n)
      for (int64_t c = 0; c < channels; ++c)
        for (int64_t p = 0; p < plane; ++p)
          operand.constant[static_cast<size_t>((n * plane + p) * channels + c)] = src[(n * channels + c) * plane + p];
  }
  return operand;
}

enum class Arithmetic : uint8_t { Add, Sub, Mul, Div };

class BinaryNhwc final : public Kernel {
 public:
  BinaryNhwc(Arithmetic kind, Operator op, Operand a, Operand b, int64_t heldBytes)
      : kind_(kind), op_(std::move(op)), a_(std::move(a)), b_(std::move(b)), heldBytes_(heldBytes) {}

  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    const float* a = a_.isConstant() ? a_.constant.data() : inputs[0].data<float>();
    const float* b = b_.isConstant() ? b_.constant.data() : inputs[1].data<float>();
    float* y = outputs[0].data<float>();
    auto setup = kind_ == Arithmetic::Add   ? xnn_setup_add_nd_f32
                 : kind_ == Arithmetic::Sub ? xnn_setup_subtract_nd_f32
                 : kind_ == Arithmetic::Mul ? xnn_setup_multiply_nd_f32
                                            : xnn_setup_divide_nd_f32;
    setup(op_.get(), 4, a_.dims.data(), 4, b_.dims.data(), a, b, y, ctx.xnnThreadpool);
    xnn_run_operator(op_.get(), ctx.xnnThreadpool);
  }
  int64_t heldBytes() const override { return heldBytes_; }

 private:
  Arithmetic kind_;
  Operator op_;
  Operand a_, b_;
  int64_t heldBytes_;
};

class ConcatNhwc final : public Kernel {
 public:
  ConcatNhwc(std::vector<Operator> copies, std::vector<size_t> offsets, size_t pixels)
      : copies_(std::move(copies)), offsets_(std::move(offsets)), pixels_(pixels) {}

  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    float* y = outputs[0].data<float>();
    for (size_t i = 0; i < copies_.size(); ++i) {
      xnn_setup_copy_nc_x32(copies_[i].get(), pixels_, inputs[i].data<float>(), y + offsets_[i], ctx.xnnThreadpool);
      xnn_run_operator(copies_[i].get(), ctx.xnnThreadpool);
    }
  }

 private:
  std::vector<Operator> copies_;  // one strided copy per input: its channels into the output's
  std::vector<size_t> offsets_;   // first output channel of each input
  size_t pixels_;
};

class UnaryActivation final : public Kernel {
 public:
  UnaryActivation(Activation::Kind kind, Operator op) : kind_(kind), op_(std::move(op)) {}

  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    const float* x = inputs[0].data<float>();
    float* y = outputs[0].data<float>();
    switch (kind_) {
      case Activation::Kind::Sigmoid: xnn_setup_sigmoid_nc_f32(op_.get(), 1, x, y, ctx.xnnThreadpool); break;
      case Activation::Kind::HardSwish: xnn_setup_hardswish_nc_f32(op_.get(), 1, x, y, ctx.xnnThreadpool); break;
      default: xnn_setup_leaky_relu_nc_f32(op_.get(), 1, x, y, ctx.xnnThreadpool); break;
    }
    xnn_run_operator(op_.get(), ctx.xnnThreadpool);
  }

 private:
  Activation::Kind kind_;
  Operator op_;
};

}  // namespace

std::unique_ptr<Kernel> binaryNhwc(const NodeContext& ctx, const Shape& outputShape) {
  if (!available() || ctx.inputCount() != 2 || outputShape.size() != 4 || ctx.input(0).dtype != DType::F32)
    return nullptr;
  const std::string& op = ctx.node.opType;
  Arithmetic kind;
  if (op == "Add") kind = Arithmetic::Add;
  else if (op == "Sub") kind = Arithmetic::Sub;
  else if (op == "Mul") kind = Arithmetic::Mul;
  else if (op == "Div") kind = Arithmetic::Div;
  else return nullptr;
  std::optional<Operand> a = makeOperand(ctx, 0), b = makeOperand(ctx, 1);
  if (!a || !b || (a->isConstant() && b->isConstant())) return nullptr;
  MemoryMeter held;
  xnn_operator_t created = nullptr;
  xnn_status status = kind == Arithmetic::Add   ? xnn_create_add_nd_f32(-INF, INF, 0, &created)
                      : kind == Arithmetic::Sub ? xnn_create_subtract_nd_f32(-INF, INF, 0, &created)
                      : kind == Arithmetic::Mul ? xnn_create_multiply_nd_f32(-INF, INF, 0, &created)
                                                : xnn_create_divide_nd_f32(-INF, INF, 0, &created);
  if (status != xnn_status_success) return nullptr;
  Operator binary(created);
  int64_t constantBytes = static_cast<int64_t>((a->constant.size() + b->constant.size()) * sizeof(float));
  return std::make_unique<BinaryNhwc>(kind, std::move(binary), std::move(*a), std::move(*b),
                                      held.bytes() + constantBytes);
}

std::unique_ptr<Kernel> concatNhwc(const NodeContext& ctx, const Shape& outputShape) {
  if (!available() || outputShape.size() != 4 || ctx.input(0).dtype != DType::F32) return nullptr;
  Result<int64_t> axis = ctx.attributes().getInt("axis", 1);
  if (!axis || (*axis != 1 && *axis != -3)) return nullptr;
  size_t total = static_cast<size_t>(outputShape[1]), offset = 0;
  std::vector<Operator> copies;
  std::vector<size_t> offsets;
  for (size_t i = 0; i < ctx.inputCount(); ++i) {
    if (ctx.constant(i)) return nullptr;
    size_t channels = static_cast<size_t>(ctx.input(i).shape[1]);
    xnn_operator_t copy = nullptr;
    if (xnn_create_copy_nc_x32(channels, channels, total, 0, &copy) != xnn_status_success) return nullptr;
    copies.emplace_back(copy);
    offsets.push_back(offset);
    offset += channels;
  }
  size_t pixels = static_cast<size_t>(outputShape[0] * outputShape[2] * outputShape[3]);
  return std::make_unique<ConcatNhwc>(std::move(copies), std::move(offsets), pixels);
}

std::unique_ptr<Kernel> unaryActivation(const NodeContext& ctx) {
  if (!available() || ctx.inputCount() != 1 || ctx.input(0).dtype != DType::F32) return nullptr;
  const std::string& op = ctx.node.opType;
  size_t n = static_cast<size_t>(ctx.input(0).numel());
  xnn_operator_t created = nullptr;
  Activation::Kind kind;
  xnn_status status;
  if (op == "Sigmoid") {
    kind = Activation::Kind::Sigmoid;
    status = xnn_create_sigmoid_nc_f32(n, n, n, 0, &created);
  } else if (op == "HardSwish") {
    kind = Activation::Kind::HardSwish;
    status = xnn_create_hardswish_nc_f32(n, n, n, 0, &created);
  } else if (op == "LeakyRelu") {
    kind = Activation::Kind::LeakyRelu;
    Result<float> alpha = ctx.attributes().getFloat("alpha", 0.01f);
    if (!alpha) return nullptr;
    status = xnn_create_leaky_relu_nc_f32(n, n, n, *alpha, 0, &created);
  } else {
    return nullptr;
  }
  if (status != xnn_status_success) return nullptr;
  return std::make_unique<UnaryActivation>(kind, Operator(created));
}

}  // namespace cleave::xnn

#include "runtime/xnnpack/xnn_activation.h"

#include <limits>

namespace cleave::xnn {

constexpr float INF = std::numeric_limits<float>::infinity();

bool isClamp(const Activation& a) { return a.kind == Activation::Kind::Relu || a.kind == Activation::Kind::Clip; }

float clampMin(const Activation& a) {
  if (a.kind == Activation::Kind::Relu) return 0.0f;
  return a.kind == Activation::Kind::Clip ? a.alpha : -INF;
}

float clampMax(const Activation& a) { return a.kind == Activation::Kind::Clip ? a.beta : INF; }

std::unique_ptr<InPlaceActivation> InPlaceActivation::create(const Activation& activation, int64_t elements) {
  if (activation.kind == Activation::Kind::None || isClamp(activation)) return nullptr;
  auto result = std::unique_ptr<InPlaceActivation>(new InPlaceActivation());
  result->activation_ = activation;
  result->elements_ = elements;
  // One row of `elements` channels: XNNPACK treats it as one contiguous run and tiles it itself.
  size_t n = static_cast<size_t>(elements);
  xnn_operator_t op = nullptr;
  xnn_status status = xnn_status_success;
  MemoryMeter meter;
  switch (activation.kind) {
    case Activation::Kind::LeakyRelu: status = xnn_create_leaky_relu_nc_f32(n, n, n, activation.alpha, 0, &op); break;
    case Activation::Kind::Sigmoid: status = xnn_create_sigmoid_nc_f32(n, n, n, 0, &op); break;
    case Activation::Kind::HardSwish: status = xnn_create_hardswish_nc_f32(n, n, n, 0, &op); break;
    default: break;  // HardSigmoid: the loop below
  }
  if (status != xnn_status_success) return nullptr;
  result->op_.reset(op);
  result->heldBytes_ = meter.bytes();
  return result;
}

void InPlaceActivation::run(float* data, const RunContext& ctx) const {
  if (!op_) {
    ctx.parallelFor(elements_, 16 * 1024, [&](int64_t b, int64_t e) { activation_.applyInPlace(data + b, e - b); });
    return;
  }
  switch (activation_.kind) {
    case Activation::Kind::LeakyRelu: xnn_setup_leaky_relu_nc_f32(op_.get(), 1, data, data, ctx.xnnThreadpool); break;
    case Activation::Kind::Sigmoid: xnn_setup_sigmoid_nc_f32(op_.get(), 1, data, data, ctx.xnnThreadpool); break;
    case Activation::Kind::HardSwish: xnn_setup_hardswish_nc_f32(op_.get(), 1, data, data, ctx.xnnThreadpool); break;
    default: return;
  }
  xnn_run_operator(op_.get(), ctx.xnnThreadpool);
}

}  // namespace cleave::xnn

// com.microsoft QLinearAdd and QLinearMul on int8 tensors of one shape (no broadcasting), each
// input and the output with its own scale and zero point, on the int8 reference kernels
// cleave_q_add (TFLM's common-scale sum) and cleave_q_mul.
#include <fmt/format.h>

#include "runtime/int8_fast/add.h"
#include "runtime/ops/qlinear_common.h"

namespace cleave {

Result<PreparedNode> prepareQLinearBinary(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 8, 8));
  CLEAVE_TRY(requireInt8Activation(ctx, 0));
  CLEAVE_TRY(requireInt8Activation(ctx, 3));
  if (ctx.input(0).shape != ctx.input(3).shape)
    return ctx.error(fmt::format("A {} and B {} must have one shape (the int8 kernels do not broadcast)",
                                 shapeString(ctx.input(0).shape), shapeString(ctx.input(3).shape)));
  Result<ActivationScale> a = activationScale(ctx, 1, 2);
  if (!a) return a.error();
  Result<ActivationScale> b = activationScale(ctx, 4, 5);
  if (!b) return b.error();
  Result<ActivationScale> c = activationScale(ctx, 6, 7);
  if (!c) return c.error();

  PreparedNode prepared;
  prepared.outputTypes = {TensorType{DType::I8, ctx.input(0).shape}};
  prepared.macs = ctx.input(0).numel();
  prepared.opClass = OpClass::Elementwise;
  prepared.layoutAgnostic = true;
  if (ctx.node.opType == "QLinearAdd") {
    cleave_q_add_params params{};
    cleave_q_add_prepare(a->scale, a->zeroPoint, b->scale, b->zeroPoint, c->scale, c->zeroPoint, &params);
    prepared.kernel = makeKernel([params](std::span<const Tensor> in, std::span<Tensor> out, const RunContext&) {
      int8fast::add(in[0].numel(), in[0].data<int8_t>(), in[3].data<int8_t>(), params, out[0].data<int8_t>());
    });
    return prepared;
  }
  auto requant = std::make_shared<ChannelRequant>(
      ChannelRequant::forScales(static_cast<double>(a->scale) * static_cast<double>(b->scale), {1.0f}, 1, *c));
  const int32_t zeroA = a->zeroPoint, zeroB = b->zeroPoint;
  prepared.kernel = makeKernel([requant, zeroA, zeroB](std::span<const Tensor> in, std::span<Tensor> out,
                                                       const RunContext&) {
    const cleave_q_requant view = requant->view();
    cleave_q_mul(in[0].numel(), in[0].data<int8_t>(), zeroA, in[3].data<int8_t>(), zeroB, &view, out[0].data<int8_t>());
  });
  return prepared;
}

}  // namespace cleave

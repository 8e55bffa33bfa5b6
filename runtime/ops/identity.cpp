#include "runtime/ops/identity.h"

#include <cstring>

#include <fmt/format.h>

#include "runtime/ops/cast.h"
#include "runtime/ops/data_movement.h"

namespace cleave {
namespace {

Result<PreparedNode> prepareCopy(const NodeContext& ctx, std::optional<TensorType> mask) {
  if (dtypeSize(ctx.input(0).dtype) == 0) return ctx.error("input 0 has an undefined type");
  PreparedNode prepared;
  prepared.outputTypes = {ctx.input(0)};
  if (mask) prepared.outputTypes.push_back(*mask);
  // Views and constants count 0 MACs: when aliased they cost nothing at run time.
  prepared.macs = 0;
  prepared.opClass = OpClass::Other;
  // With a mask to fill the kernel has to run, so output 0 is not offered as an alias.
  prepared.aliasesInput = !mask;
  prepared.kernel = makeKernel([](std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext&) {
    copyIfDistinct(inputs[0], outputs[0]);
    if (outputs.size() > 1 && outputs[1].numel() > 0 && outputs[1].raw() != nullptr) {
      // The mask says every element was kept; it is bool from opset 10, the data type before.
      const uint8_t trueByte = 1;
      std::byte one[8] = {};
      convertElements(reinterpret_cast<const std::byte*>(&trueByte), DType::Bool, one, outputs[1].dtype(), 1);
      fillElements(outputs[1].raw(), outputs[1].numel(), one, dtypeSize(outputs[1].dtype()));
    }
  });
  return prepared;
}

}  // namespace

Result<PreparedNode> prepareIdentity(const NodeContext& ctx) {
  if (ctx.node.opType != "Dropout") {
    CLEAVE_TRY(requireInputCount(ctx, 1, 1));
    return prepareCopy(ctx, std::nullopt);
  }
  // Dropout: data, then ratio and training_mode inputs from opset 12.
  CLEAVE_TRY(requireInputCount(ctx, 1, 3));
  if (ctx.node.outputs.size() > 2) return ctx.error(fmt::format("has {} outputs, expected 1 or 2", ctx.node.outputs.size()));
  if (ctx.hasInput(2)) {
    const Tensor* training = ctx.constant(2);
    if (ctx.input(2).numel() != 1) return ctx.error("training_mode input must hold one value");
    // A run-time training_mode is taken to be false: cleave only runs inference.
    if (training != nullptr && training->toInt64s()[0] != 0)
      return ctx.error("training_mode is true; cleave runs Dropout for inference only");
  }
  std::optional<TensorType> mask;
  if (ctx.node.outputs.size() == 2 && !ctx.node.outputs[1].empty())
    mask = TensorType{ctx.opset >= 10 ? DType::Bool : ctx.input(0).dtype, ctx.input(0).shape};
  Result<PreparedNode> result = prepareCopy(ctx, mask);
  // An omitted mask output still gets a type, so outputTypes covers every listed output.
  if (result && ctx.node.outputs.size() == 2 && !mask) result->outputTypes.push_back(TensorType{DType::Bool, ctx.input(0).shape});
  return result;
}

}  // namespace cleave

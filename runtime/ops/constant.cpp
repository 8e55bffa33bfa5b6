#include "runtime/ops/constant.h"

#include <fmt/format.h>

#include "runtime/ops/data_movement.h"

namespace cleave {
namespace {

constexpr int64_t MAX_MATERIALISED_BYTES = int64_t{64} << 20;


}  // namespace

Result<PreparedNode> prepareConstant(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 0, 0));
  const Attributes& attrs = ctx.attributes();
  for (const char* unsupported : {"sparse_value", "value_string", "value_strings"})
    if (attrs.has(unsupported)) return ctx.error(fmt::format("attribute '{}' is not supported", unsupported));
  int given = 0;
  for (const char* name : {"value", "value_float", "value_floats", "value_int", "value_ints"}) given += attrs.has(name);
  if (given != 1) return ctx.error(fmt::format("needs exactly one value attribute, got {}", given));

  Tensor value;
  if (attrs.has("value")) {
    Result<Tensor> t = attrs.getTensor("value");
    if (!t) return ctx.error(t.error().message);
    if (dtypeSize(t->dtype()) == 0) return ctx.error("value has an undefined type");
    value = std::move(t).value();
  } else if (attrs.has("value_float")) {
    Result<float> v = attrs.getFloat("value_float", 0.0f);
    if (!v) return ctx.error(v.error().message);
    value = Tensor::scalar<float>(*v);
  } else if (attrs.has("value_floats")) {
    Result<std::vector<float>> v = attrs.getFloats("value_floats", {});
    if (!v) return ctx.error(v.error().message);
    value = Tensor::fromVector<float>({static_cast<int64_t>(v->size())}, *v);
  } else if (attrs.has("value_int")) {
    Result<int64_t> v = attrs.getInt("value_int", 0);
    if (!v) return ctx.error(v.error().message);
    value = Tensor::scalar<int64_t>(*v);
  } else {
    Result<std::vector<int64_t>> v = attrs.getInts("value_ints", {});
    if (!v) return ctx.error(v.error().message);
    value = Tensor::fromVector<int64_t>({static_cast<int64_t>(v->size())}, *v);
  }
  return constantNode(std::move(value));
}

Result<PreparedNode> prepareConstantOfShape(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 1, 1));
  if (ctx.input(0).shape.size() != 1)
    return ctx.error(fmt::format("input must be 1-D, got shape {}", shapeString(ctx.input(0).shape)));
  Result<std::vector<int64_t>> dims = constantInts(ctx, 0, "shape");
  if (!dims) return dims.error();
  for (int64_t d : *dims)
    if (d < 0) return ctx.error(fmt::format("shape [{}] has a negative dimension", fmt::join(*dims, ",")));
  int64_t numel = 1;
  for (int64_t d : *dims) {
    if (d != 0 && numel > (int64_t{1} << 40) / d) return ctx.error(fmt::format("shape [{}] is too large", fmt::join(*dims, ",")));
    numel *= d;
  }

  Tensor element = Tensor::scalar<float>(0.0f);
  if (ctx.attributes().has("value")) {
    Result<Tensor> t = ctx.attributes().getTensor("value");
    if (!t) return ctx.error(t.error().message);
    if (t->numel() != 1) return ctx.error(fmt::format("value must hold one element, got {}", t->numel()));
    if (dtypeSize(t->dtype()) == 0) return ctx.error("value has an undefined type");
    element = std::move(t).value();
  }
  TensorType type{element.dtype(), std::move(dims).value()};
  PreparedNode prepared;
  prepared.outputTypes = {type};
  // Constants count 0 MACs: the analysis folds them, nothing runs.
  prepared.macs = 0;
  prepared.opClass = OpClass::Other;
  prepared.kernel = makeKernel([element](std::span<const Tensor>, std::span<Tensor> outputs, const RunContext&) {
    fillElements(outputs[0].raw(), outputs[0].numel(), element.raw(), dtypeSize(element.dtype()));
  });
  // A huge constant would only bloat the analysis; past this size it is filled at run time.
  if (type.bytes() <= MAX_MATERIALISED_BYTES) {
    std::vector<Tensor> outputs = {Tensor::zeros(type)};
    runWithOwnWorkspace(*prepared.kernel, {}, outputs);
    prepared.constantOutputs = std::move(outputs);
  }
  return prepared;
}

}  // namespace cleave

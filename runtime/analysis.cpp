#include "runtime/analysis.h"

#include <fmt/format.h>

#include "runtime/ops/op_table.h"

namespace cleave {
namespace {

// Propagating a constant means running its kernel at load time; skip it for huge outputs, which
// would only bloat the model (a constant that large is better computed at run time).
constexpr int64_t MAX_FOLDED_BYTES = int64_t{64} << 20;
// The importer's bound on a tensor read from a file, applied to every value an op infers: a
// 3 KB model padding a dimension by 2^40 must fail here, not when the session allocates.
constexpr int64_t MAX_VALUE_ELEMENTS = int64_t{1} << 31;

// Every dimension >= 0 and the element count within MAX_VALUE_ELEMENTS, without overflowing.
bool sizeWithinBounds(const Shape& shape) {
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0 || (d > 0 && count > MAX_VALUE_ELEMENTS / d)) return false;
    count *= d;
  }
  return true;
}

}  // namespace

Result<GraphAnalysis> analyzeGraph(const Graph& graph) {
  GraphAnalysis analysis;
  for (const ValueInfo& input : graph.inputs) analysis.types[input.name] = input.type;
  for (const auto& [name, tensor] : graph.initializers) {
    analysis.types[name] = tensor.type();
    analysis.constants[name] = tensor;
  }
  analysis.nodes.reserve(graph.nodes.size());
  for (const Node& node : graph.nodes) {
    std::vector<TensorType> inputTypes;
    std::vector<const Tensor*> constInputs;
    bool allConstant = true;
    for (const std::string& in : node.inputs) {
      if (in.empty()) {
        inputTypes.emplace_back();
        constInputs.push_back(nullptr);
        continue;
      }
      auto type = analysis.types.find(in);
      if (type == analysis.types.end())
        return Error{fmt::format("node '{}' ({}) reads '{}' before it is produced", node.name, node.opType, in)};
      inputTypes.push_back(type->second);
      auto constant = analysis.constants.find(in);
      constInputs.push_back(constant == analysis.constants.end() ? nullptr : &constant->second);
      allConstant = allConstant && constant != analysis.constants.end();
    }
    PrepareFn prepare = findOp(node.domain, node.opType);
    if (!prepare) return Error{fmt::format("node '{}' uses op '{}', which cleave does not support", node.name, node.opType)};
    NodeContext ctx{node, inputTypes, constInputs, graph.opset};
    Result<PreparedNode> prepared = prepare(ctx);
    if (!prepared) return prepared.error();
    if (prepared->outputTypes.size() < node.outputs.size())
      return ctx.error(fmt::format("names {} outputs, the op produces {}", node.outputs.size(), prepared->outputTypes.size()));
    for (size_t i = 0; i < prepared->outputTypes.size(); ++i)
      if (!sizeWithinBounds(prepared->outputTypes[i].shape))
        return ctx.error(fmt::format("output {} would have shape {}: a negative dimension or more than {} elements", i,
                                     shapeString(prepared->outputTypes[i].shape), MAX_VALUE_ELEMENTS));
    for (size_t i = 0; i < node.outputs.size(); ++i)
      if (!node.outputs[i].empty()) analysis.types[node.outputs[i]] = prepared->outputTypes[i];

    bool isConstant = false;
    if (prepared->constantOutputs) {
      isConstant = true;
    } else if (allConstant && prepared->kernel) {
      int64_t bytes = 0;
      for (const TensorType& t : prepared->outputTypes) bytes += t.bytes();
      if (bytes <= MAX_FOLDED_BYTES) {
        std::vector<Tensor> inputs;
        for (const std::string& in : node.inputs) inputs.push_back(in.empty() ? Tensor{} : analysis.constants.at(in));
        std::vector<Tensor> outputs;
        for (const TensorType& t : prepared->outputTypes) outputs.push_back(Tensor::zeros(t));
        runWithOwnWorkspace(*prepared->kernel, inputs, outputs);
        prepared->constantOutputs = std::move(outputs);
        isConstant = true;
      }
    }
    if (isConstant) {
      for (size_t i = 0; i < node.outputs.size(); ++i)
        if (!node.outputs[i].empty()) analysis.constants[node.outputs[i]] = (*prepared->constantOutputs)[i];
    }
    analysis.constantNode.push_back(isConstant);
    analysis.nodes.push_back(std::move(prepared).value());
  }
  for (const ValueInfo& out : graph.outputs)
    if (!analysis.types.count(out.name))
      return Error{fmt::format("graph output '{}' is not produced by any node", out.name)};
  return analysis;
}

}  // namespace cleave

// Test helpers: run one node through prepare + kernel, without a graph or session.
#pragma once

#include <cmath>
#include <random>
#include <vector>

#include "runtime/op.h"
#include "runtime/ops/op_table.h"

namespace cleave::testing {

// Prepares `node` with the given inputs (an empty Tensor marks an omitted input) and runs it.
// Inputs listed in `constantInputs` are shown to prepare as constants (e.g. Reshape's shape).
inline Result<std::vector<Tensor>> runNode(const Node& node, const std::vector<Tensor>& inputs,
                                           std::vector<size_t> constantInputs = {}, int64_t opset = 13,
                                           const RunContext& run = {}) {
  PrepareFn prepare = findOp(node.domain, node.opType);
  if (!prepare) return Error{"op not in table: " + node.opType};
  std::vector<TensorType> types;
  std::vector<const Tensor*> constants;
  for (size_t i = 0; i < inputs.size(); ++i) {
    types.push_back(inputs[i].empty() ? TensorType{} : inputs[i].type());
    bool isConst = std::find(constantInputs.begin(), constantInputs.end(), i) != constantInputs.end();
    constants.push_back(isConst ? &inputs[i] : nullptr);
  }
  NodeContext ctx{node, types, constants, opset};
  Result<PreparedNode> prepared = prepare(ctx);
  if (!prepared) return prepared.error();
  if (prepared->constantOutputs) return *prepared->constantOutputs;
  std::vector<Tensor> outputs;
  for (const TensorType& type : prepared->outputTypes) outputs.push_back(Tensor::zeros(type));
  runWithOwnWorkspace(*prepared->kernel, inputs, outputs, run.pool);
  return outputs;
}

inline Node makeNode(std::string opType, size_t inputs, size_t outputs = 1, Attributes attributes = {}) {
  Node node;
  node.name = "test_" + opType;
  node.opType = std::move(opType);
  for (size_t i = 0; i < inputs; ++i) node.inputs.push_back("in" + std::to_string(i));
  for (size_t i = 0; i < outputs; ++i) node.outputs.push_back("out" + std::to_string(i));
  node.attributes = std::move(attributes);
  return node;
}

// Uniform random floats in [lo, hi), from a seeded engine (distinct values, not a constant).
inline Tensor randomTensor(Shape shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 engine(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t = Tensor::zeros(DType::F32, std::move(shape));
  for (float& v : t.values<float>()) v = dist(engine);
  return t;
}

// Largest |a-b| over two float tensors of the same shape (infinity when shapes differ).
inline float maxAbsDiff(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != DType::F32 || b.dtype() != DType::F32) return INFINITY;
  float worst = 0.0f;
  for (int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::fabs(a.data<float>()[i] - b.data<float>()[i]));
  return worst;
}

// Worst |got - want| / (1 + |want|): absolute near zero, relative for large sums; infinity when
// shapes differ or a NaN appears.
inline float relativeError(const Tensor& got, const Tensor& want) {
  if (got.shape() != want.shape()) return INFINITY;
  float worst = 0.0f;
  for (int64_t i = 0; i < got.numel(); ++i) {
    float w = want.data<float>()[i];
    float e = std::fabs(got.data<float>()[i] - w) / (1.0f + std::fabs(w));
    if (std::isnan(e)) return INFINITY;
    worst = std::max(worst, e);
  }
  return worst;
}

}  // namespace cleave::testing

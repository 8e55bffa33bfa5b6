// Test helpers for the shape and data-movement ops: runs one of ONNX's own node tests
// (libonnx-testdata: model.onnx + test_data_set_0) as a single node through runNode, with chosen
// inputs shown to prepare as constants, and compares with ONNX's expected outputs exactly.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "runtime/onnx_import.h"
#include "runtime/ops/op_test_util.h"

namespace cleave::testing {

inline const std::filesystem::path ONNX_NODE_TESTS = "/usr/share/libonnx-testdata/data/node";

// Loads the test's single node and its data set 0; inputs follow the node's input list (an
// empty Tensor for an omitted one), expected outputs the node's output list.
struct OnnxNodeCase {
  Node node;
  int64_t opset = 13;
  std::vector<Tensor> inputs;
  std::vector<Tensor> expected;
};

inline Result<OnnxNodeCase> loadOnnxNodeCase(const std::string& name) {
  std::filesystem::path dir = ONNX_NODE_TESTS / name;
  Result<Graph> graph = importOnnxFile((dir / "model.onnx").string());
  if (!graph) return graph.error();
  if (graph->nodes.size() != 1) return Error{fmt::format("{}: {} nodes, expected 1", name, graph->nodes.size())};
  OnnxNodeCase c;
  c.node = graph->nodes[0];
  c.opset = graph->opset;
  std::map<std::string, Tensor> values = graph->initializers;
  for (size_t i = 0; i < graph->inputs.size(); ++i) {
    Result<Tensor> t = readTensorProtoFile((dir / "test_data_set_0" / fmt::format("input_{}.pb", i)).string());
    if (!t) return t.error();
    values[graph->inputs[i].name] = *t;
  }
  for (const std::string& in : c.node.inputs) c.inputs.push_back(in.empty() ? Tensor{} : values.at(in));
  for (const std::string& out : c.node.outputs) {
    size_t i = 0;
    while (i < graph->outputs.size() && graph->outputs[i].name != out) ++i;
    if (i == graph->outputs.size()) {
      c.expected.emplace_back();
      continue;
    }
    Result<Tensor> t = readTensorProtoFile((dir / "test_data_set_0" / fmt::format("output_{}.pb", i)).string());
    if (!t) return t.error();
    c.expected.push_back(*t);
  }
  return c;
}

// Runs the named ONNX test; every expected output must match bit for bit.
inline void checkOnnxNodeCase(const std::string& name, std::vector<size_t> constantInputs = {}) {
  CAPTURE(name);
  if (!std::filesystem::exists(ONNX_NODE_TESTS / name)) {
    MESSAGE("skipped: ONNX test data missing");
    return;
  }
  Result<OnnxNodeCase> c = loadOnnxNodeCase(name);
  REQUIRE_MESSAGE(c.ok(), (c.ok() ? "" : c.error().message));
  Result<std::vector<Tensor>> got = runNode(c->node, c->inputs, constantInputs, c->opset);
  REQUIRE_MESSAGE(got.ok(), (got.ok() ? "" : got.error().message));
  REQUIRE(got->size() >= c->expected.size());
  for (size_t i = 0; i < c->expected.size(); ++i) {
    if (c->expected[i].empty()) continue;
    CAPTURE(i);
    CHECK((*got)[i].type().toString() == c->expected[i].type().toString());
    CHECK((*got)[i].identical(c->expected[i]));
  }
}

// The error message of preparing `node`, or "" when it prepares fine.
inline std::string prepareError(const Node& node, const std::vector<Tensor>& inputs, std::vector<size_t> constantInputs = {},
                                int64_t opset = 13) {
  Result<std::vector<Tensor>> r = runNode(node, inputs, std::move(constantInputs), opset);
  return r.ok() ? "" : r.error().message;
}

// A tensor of `shape` holding 0, 1, 2... converted to `dtype` (bool: alternating).
inline Tensor iotaTensor(DType dtype, Shape shape) {
  Tensor t = Tensor::zeros(dtype, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) {
    switch (dtype) {
      case DType::F32: t.data<float>()[i] = static_cast<float>(i); break;
      case DType::F16: t.data<uint16_t>()[i] = floatToHalf(static_cast<float>(i % 2048)); break;
      case DType::I8: t.data<int8_t>()[i] = static_cast<int8_t>(i); break;
      case DType::U8: t.data<uint8_t>()[i] = static_cast<uint8_t>(i); break;
      case DType::I32: t.data<int32_t>()[i] = static_cast<int32_t>(i); break;
      case DType::I64: t.data<int64_t>()[i] = i; break;
      case DType::Bool: t.data<bool>()[i] = i % 2 == 1; break;
      case DType::Undefined: break;
    }
  }
  return t;
}

constexpr DType ALL_DTYPES[] = {DType::F32, DType::F16, DType::I8, DType::U8, DType::I32, DType::I64, DType::Bool};

inline Tensor i64s(std::vector<int64_t> values) {
  return Tensor::fromVector<int64_t>({static_cast<int64_t>(values.size())}, values);
}

inline Attributes axisAttr(int64_t axis) {
  Attributes attrs;
  attrs.set("axis", axis);
  return attrs;
}

}  // namespace cleave::testing

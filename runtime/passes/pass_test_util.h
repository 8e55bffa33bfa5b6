// Test helpers for graph passes: build small graphs by hand, run them through a Session on
// seeded random inputs, and compare a graph's outputs before and after a pass.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "runtime/graph.h"
#include "runtime/ops/op_test_util.h"
#include "runtime/session.h"

namespace cleave::testing {

// Appends a node; `name` defaults to the first output's name.
inline Node& addNode(Graph& graph, std::string opType, std::vector<std::string> inputs,
                     std::vector<std::string> outputs, Attributes attributes = {}, std::string domain = "") {
  Node node;
  node.name = outputs.empty() ? opType : outputs[0];
  node.opType = std::move(opType);
  node.domain = std::move(domain);
  node.inputs = std::move(inputs);
  node.outputs = std::move(outputs);
  node.attributes = std::move(attributes);
  graph.nodes.push_back(std::move(node));
  return graph.nodes.back();
}

inline Attributes attrs(std::initializer_list<std::pair<std::string, AttributeValue>> values) {
  Attributes a;
  for (const auto& [name, value] : values) a.set(name, value);
  return a;
}

inline size_t countOps(const Graph& graph, const std::string& opType) {
  return static_cast<size_t>(std::count_if(graph.nodes.begin(), graph.nodes.end(),
                                            [&](const Node& n) { return n.opType == opType; }));
}

// One seeded random f32 tensor per graph input (the tests only use f32 inputs).
inline std::vector<Tensor> randomInputs(const Graph& graph, uint32_t seed) {
  std::vector<Tensor> inputs;
  for (const ValueInfo& input : graph.inputs) inputs.push_back(randomTensor(input.type.shape, seed++, -2.0f, 2.0f));
  return inputs;
}

// Runs the graph; fails the test (with the session's message) when it cannot.
inline std::vector<Tensor> runGraph(const Graph& graph, const std::vector<Tensor>& inputs) {
  Result<std::unique_ptr<Session>> session = Session::create(graph);
  REQUIRE_MESSAGE(session.ok(), (session.ok() ? "" : session.error().message));
  Result<std::vector<Tensor>> outputs = (*session)->run(inputs);
  REQUIRE_MESSAGE(outputs.ok(), (outputs.ok() ? "" : outputs.error().message));
  return std::move(outputs).value();
}

// Largest |before - after| over all outputs of the two graphs on the same random inputs.
inline float maxOutputDiff(const Graph& before, const Graph& after, uint32_t seed = 7) {
  std::vector<Tensor> inputs = randomInputs(before, seed);
  std::vector<Tensor> a = runGraph(before, inputs);
  std::vector<Tensor> b = runGraph(after, inputs);
  REQUIRE(a.size() == b.size());
  float worst = 0.0f;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, maxAbsDiff(a[i], b[i]));
  return worst;
}

// True when both graphs give bit-identical outputs.
inline bool sameOutputs(const Graph& before, const Graph& after, uint32_t seed = 7) {
  std::vector<Tensor> inputs = randomInputs(before, seed);
  std::vector<Tensor> a = runGraph(before, inputs);
  std::vector<Tensor> b = runGraph(after, inputs);
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!a[i].identical(b[i])) return false;
  return true;
}

inline Graph graphWithInput(const std::string& name, Shape shape) {
  Graph graph;
  graph.name = "test";
  graph.inputs.push_back({name, {DType::F32, std::move(shape)}});
  return graph;
}

}  // namespace cleave::testing

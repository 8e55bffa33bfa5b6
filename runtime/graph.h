// Graph IR: nodes over named values, initializers, graph inputs and outputs. Mirrors ONNX closely
// so import and export are direct, and keeps node order topological (checked by analyzeGraph).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "runtime/result.h"
#include "runtime/tensor.h"

namespace cleave {

using AttributeValue =
    std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>, Tensor>;

// Node attributes by name. Getters return nullopt when absent and an Error when present with
// the wrong type, so op preparation can give a precise message.
class Attributes {
 public:
  void set(std::string name, AttributeValue value) { values_[std::move(name)] = std::move(value); }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  void erase(const std::string& name) { values_.erase(name); }
  const std::map<std::string, AttributeValue>& all() const { return values_; }

  Result<int64_t> getInt(const std::string& name, int64_t fallback) const;
  Result<float> getFloat(const std::string& name, float fallback) const;
  Result<std::string> getString(const std::string& name, std::string fallback) const;
  Result<std::vector<int64_t>> getInts(const std::string& name, std::vector<int64_t> fallback) const;
  Result<std::vector<float>> getFloats(const std::string& name, std::vector<float> fallback) const;
  // Required tensor attribute (Constant's value).
  Result<Tensor> getTensor(const std::string& name) const;

 private:
  std::map<std::string, AttributeValue> values_;
};

struct Node {
  std::string name;
  std::string opType;
  std::string domain;  // "" for the default ONNX domain
  std::vector<std::string> inputs;   // "" marks an omitted optional input
  std::vector<std::string> outputs;  // "" marks an omitted optional output
  Attributes attributes;
};

struct ValueInfo {
  std::string name;
  TensorType type;
};

struct Graph {
  std::string name;
  int64_t opset = 13;
  std::vector<ValueInfo> inputs;
  std::vector<ValueInfo> outputs;
  std::map<std::string, Tensor> initializers;
  std::vector<Node> nodes;

  bool isInitializer(const std::string& value) const { return initializers.count(value) != 0; }
  const ValueInfo* findInput(const std::string& value) const;
  // Index of the node producing `value`, or nullopt for graph inputs and initializers.
  std::optional<size_t> producerOf(const std::string& value) const;
  // Number of node inputs and graph outputs reading `value`.
  size_t useCount(const std::string& value) const;
  bool isGraphOutput(const std::string& value) const;
};

// Reorders nodes topologically (stable: keeps file order where it is already valid). Fails on
// cycles and on inputs that nothing produces, naming the node and the value.
Status sortTopologically(Graph& graph);

}  // namespace cleave

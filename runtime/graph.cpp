#include "runtime/graph.h"

#include <set>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

namespace cleave {
namespace {

template <class T>
Result<T> getTyped(const std::map<std::string, AttributeValue>& values, const std::string& name,
                   T fallback, const char* expected) {
  auto it = values.find(name);
  if (it == values.end()) return fallback;
  if (const T* v = std::get_if<T>(&it->second)) return *v;
  return Error{fmt::format("attribute '{}' must be {}", name, expected)};
}

}  // namespace

Result<int64_t> Attributes::getInt(const std::string& name, int64_t fallback) const {
  return getTyped<int64_t>(values_, name, fallback, "an int");
}
Result<float> Attributes::getFloat(const std::string& name, float fallback) const {
  auto it = values_.find(name);
  if (it != values_.end()) {
    if (const int64_t* i = std::get_if<int64_t>(&it->second)) return static_cast<float>(*i);
  }
  return getTyped<float>(values_, name, fallback, "a float");
}
Result<std::string> Attributes::getString(const std::string& name, std::string fallback) const {
  return getTyped<std::string>(values_, name, std::move(fallback), "a string");
}
Result<std::vector<int64_t>> Attributes::getInts(const std::string& name, std::vector<int64_t> fallback) const {
  return getTyped<std::vector<int64_t>>(values_, name, std::move(fallback), "a list of ints");
}
Result<std::vector<float>> Attributes::getFloats(const std::string& name, std::vector<float> fallback) const {
  return getTyped<std::vector<float>>(values_, name, std::move(fallback), "a list of floats");
}
Result<Tensor> Attributes::getTensor(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return Error{fmt::format("attribute '{}' is required", name)};
  if (const Tensor* t = std::get_if<Tensor>(&it->second)) return *t;
  return Error{fmt::format("attribute '{}' must be a tensor", name)};
}

const ValueInfo* Graph::findInput(const std::string& value) const {
  for (const ValueInfo& info : inputs)
    if (info.name == value) return &info;
  return nullptr;
}

std::optional<size_t> Graph::producerOf(const std::string& value) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const std::string& out : nodes[i].outputs)
      if (out == value) return i;
  return std::nullopt;
}

size_t Graph::useCount(const std::string& value) const {
  size_t count = 0;
  for (const Node& node : nodes)
    for (const std::string& in : node.inputs) count += (in == value);
  for (const ValueInfo& out : outputs) count += (out.name == value);
  return count;
}

bool Graph::isGraphOutput(const std::string& value) const {
  for (const ValueInfo& out : outputs)
    if (out.name == value) return true;
  return false;
}

Status sortTopologically(Graph& graph) {
  std::unordered_map<std::string, size_t> producer;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (const std::string& out : graph.nodes[i].outputs) {
      if (out.empty()) continue;
      if (!producer.emplace(out, i).second || graph.isInitializer(out) || graph.findInput(out))
        return Error{fmt::format("value '{}' is produced more than once (node '{}')", out, graph.nodes[i].name)};
    }
  }
  // Kahn's algorithm, always taking the lowest-index ready node so valid orders are kept.
  std::vector<size_t> pending(graph.nodes.size(), 0);
  std::vector<std::vector<size_t>> consumers(graph.nodes.size());
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    std::unordered_set<size_t> seen;
    for (const std::string& in : graph.nodes[i].inputs) {
      if (in.empty()) continue;
      auto it = producer.find(in);
      if (it == producer.end()) {
        if (!graph.isInitializer(in) && !graph.findInput(in))
          return Error{fmt::format("node '{}' ({}) reads '{}', which no node, input or initializer provides",
                                   graph.nodes[i].name, graph.nodes[i].opType, in)};
        continue;
      }
      if (seen.insert(it->second).second) {
        ++pending[i];
        consumers[it->second].push_back(i);
      }
    }
  }
  std::set<size_t> ready;
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (pending[i] == 0) ready.insert(i);
  std::vector<Node> sorted;
  sorted.reserve(graph.nodes.size());
  while (!ready.empty()) {
    size_t i = *ready.begin();
    ready.erase(ready.begin());
    sorted.push_back(std::move(graph.nodes[i]));
    for (size_t c : consumers[i])
      if (--pending[c] == 0) ready.insert(c);
  }
  if (sorted.size() != graph.nodes.size()) {
    for (size_t i = 0; i < graph.nodes.size(); ++i)
      if (pending[i] != 0)
        return Error{fmt::format("graph has a cycle through node '{}' ({})", graph.nodes[i].name, graph.nodes[i].opType)};
  }
  graph.nodes = std::move(sorted);
  for (const ValueInfo& out : graph.outputs)
    if (!producer.count(out.name) && !graph.isInitializer(out.name) && !graph.findInput(out.name))
      return Error{fmt::format("graph output '{}' is not produced by any node", out.name)};
  return {};
}

}  // namespace cleave

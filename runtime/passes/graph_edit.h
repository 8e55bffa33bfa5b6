// Small graph-editing helpers the optimisation passes share: who reads a value, rewiring readers
// from one value to another, fresh names, and dropping nodes while keeping the order topological.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "runtime/graph.h"

namespace cleave {

// Indices of the nodes reading `value`, each node once, in graph order.
std::vector<size_t> consumersOf(const Graph& graph, const std::string& value);

// The one node reading `value` when it has exactly one use (counting repeated inputs of a node
// and graph outputs), else nullopt. Passes fuse a producer into a consumer only in that case.
std::optional<size_t> soleConsumer(const Graph& graph, const std::string& value);

// Points every node input reading `from` at `to`. Graph outputs are left alone: their names
// are the model's interface.
void replaceUses(Graph& graph, const std::string& from, const std::string& to);

// A value name not used by any initializer, graph input, graph output or node, derived from `base`.
std::string freshValueName(const Graph& graph, const std::string& base);

// Removes the node whose output 0 equals its input `input` (a no-op), pointing its readers at
// that input. When the output is a graph output its name must survive, so the producer of the
// input is renamed instead; when that is impossible (the input is a graph input, an initializer
// or itself a graph output) the node stays and this returns false. Marks the node in `removed`.
bool bypassNode(Graph& graph, size_t node, size_t input, std::vector<bool>& removed);

// Drops the nodes flagged in `removed`, keeping the others in order.
void eraseNodes(Graph& graph, const std::vector<bool>& removed);

// A node of ONNX's default domain with this op type and exactly one output, which is used (a
// pattern the passes may replace by one node writing that output).
bool isPlainNode(const Node& node, const std::string& opType);

// The node's attribute as a string, or "" when absent or not a string.
std::string stringAttribute(const Node& node, const std::string& name);

}  // namespace cleave

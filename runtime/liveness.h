// Liveness of a graph's activations over the order its runnable nodes execute in: where each
// value is produced and last read. The cost report and stage extraction share it, so "what
// crosses a cut" means the same thing to the planner and to the stages that run.
#pragma once

#include <string>
#include <vector>

#include "runtime/analysis.h"
#include "runtime/graph.h"

namespace cleave {

struct ValueLife {
  std::string name;
  int64_t bytes = 0;
  int64_t producer = -1;  // position of the producing node; -1 for graph inputs
  int64_t lastUse = -1;   // last position reading it; `positions` for graph outputs
  bool graphInput = false;
};

struct Liveness {
  // Graph node index of each runnable (non-constant) node, in execution order. A cut position p
  // in [0, runnable.size()] sits before runnable node p.
  std::vector<size_t> runnable;
  // Every non-constant value: graph inputs in declaration order, then node outputs in order.
  std::vector<ValueLife> values;

  int64_t positions() const { return static_cast<int64_t>(runnable.size()); }
  // Values live across cut p: produced before p (or graph inputs) and read at p or later
  // (graph outputs count as read at the end).
  std::vector<const ValueLife*> crossing(int64_t p) const;
  // Activation bytes live while the node at position i runs (inputs, outputs, and everything
  // held for later), assuming an ideal allocator.
  std::vector<int64_t> liveBytesPerPosition() const;
};

Liveness computeLiveness(const Graph& graph, const GraphAnalysis& analysis);

}  // namespace cleave

// Stage extraction: cut a graph at positions of its execution order into sub-graphs that each
// run on their own. A stage's inputs are exactly the tensors live across its incoming cut and
// its outputs those live across its outgoing cut (tensors it only passes along included), so
// running the stages in order reproduces the whole graph bit for bit.
#pragma once

#include <span>
#include <vector>

#include "runtime/graph.h"

namespace cleave {

// `cuts` are non-decreasing positions in [0, runnable nodes] (see Liveness); K cuts give
// K+1 stages, any of which may be empty (it then passes its inputs through).
Result<std::vector<Graph>> extractStages(const Graph& graph, std::span<const int64_t> cuts);

}  // namespace cleave

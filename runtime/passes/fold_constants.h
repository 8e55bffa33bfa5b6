// Constant folding: a node whose outputs are all known before run time (analysis.constantNode:
// every input constant, or prepare computed the outputs, e.g. Shape of a static shape) becomes
// initializers for those of its outputs that are still read.
#pragma once

#include <cstdint>

#include "runtime/graph.h"
#include "runtime/result.h"

namespace cleave {

// Replaces every constant node; `changes` (optional) receives the number of nodes folded.
// Fails only when the graph does not analyse.
Status foldConstants(Graph& graph, int64_t* changes = nullptr);

}  // namespace cleave

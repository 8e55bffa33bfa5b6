// Dead-code removal: nodes none of whose outputs reach a graph output, and initializers no
// remaining node reads (and that are not graph outputs). Graph inputs always stay: they are the
// model's interface even when unused.
#pragma once

#include <cstdint>

#include "runtime/graph.h"
#include "runtime/result.h"

namespace cleave {

struct DeadCodeCounts {
  int64_t nodes = 0;
  int64_t initializers = 0;
};

// Needs no analysis, so it cannot fail; the Status keeps the pass signatures uniform.
Status removeDeadNodes(Graph& graph, DeadCodeCounts* counts = nullptr);

}  // namespace cleave

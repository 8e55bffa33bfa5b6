// No-op removal: nodes that pass their input through unchanged at inference time (Identity,
// Dropout, shape ops that keep the shape, zero Pad, same-type Cast, identity Transpose, Slice of
// the whole tensor) are dropped and their readers rewired to the input. Graph input and output
// names never change: a no-op producing a graph output renames its input's producer instead, or
// stays when that is impossible.
#pragma once

#include <cstdint>

#include "runtime/graph.h"
#include "runtime/result.h"

namespace cleave {

// `changes` (optional) receives the number of nodes removed. Fails only when the graph does
// not analyse.
Status removeNoops(Graph& graph, int64_t* changes = nullptr);

}  // namespace cleave

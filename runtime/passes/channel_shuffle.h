// Channel shuffles as Gather: ShuffleNet's Reshape [N,C,H,W] -> [N,g,C/g,H,W], Transpose
// (0,2,1,3,4), Reshape back to [N,C,H,W] is a fixed permutation of the channels, and becomes one
// standard Gather along axis 1 with constant indices. The three nodes would pull a channels-last
// graph back to NCHW twice per block; a Gather over channels has a channels-last kernel.
#pragma once

#include <cstdint>

#include "runtime/graph.h"
#include "runtime/result.h"

namespace cleave {

// `changes` (optional) receives the number of shuffles rewritten. Fails only when the graph does
// not analyse.
Status rewriteChannelShuffles(Graph& graph, int64_t* changes = nullptr);

}  // namespace cleave

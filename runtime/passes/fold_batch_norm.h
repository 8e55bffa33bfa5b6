// BatchNormalization folding: at inference BN is y = x * s + t per channel with constant s and t,
// so when its input is the only use of a Conv or Gemm output (or of a FusedConv/FusedGemm with
// no activation yet) it can be folded into that node's weights and bias. The folded weights are
// new initializers; tensors other nodes may share are never modified. A BN without such a
// producer stays as it is.
#pragma once

#include <cstdint>

#include "runtime/graph.h"
#include "runtime/result.h"

namespace cleave {

// `changes` (optional) receives the number of BN nodes folded. Fails only when the graph does
// not analyse.
Status foldBatchNorm(Graph& graph, int64_t* changes = nullptr);

}  // namespace cleave

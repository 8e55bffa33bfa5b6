// The optimisation pipeline `cleavectl model optimize` and sessions run: constant folding,
// QDQ patterns lowered to int8 operators (lower_qdq.h), no-op removal, BatchNorm folding, activation fusion, SiLU and HardSwish fusion, channel shuffles as Gather
// and dead-code removal, repeated until a round changes nothing (each pass can expose work for
// another: folding a Shape chain turns a Reshape into a no-op, removing it lets a BN reach its
// Conv).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/graph.h"
#include "runtime/result.h"

namespace cleave {

// What the pipeline did, summed over its rounds.
struct OptimizeReport {
  int64_t nodesBefore = 0;
  int64_t nodesAfter = 0;
  int64_t initializersBefore = 0;
  int64_t initializersAfter = 0;
  int64_t rounds = 0;
  int64_t foldedConstants = 0;   // nodes replaced by initializers
  int64_t removedNoops = 0;      // Identity, Dropout, same-shape Reshape, ...
  int64_t foldedBatchNorms = 0;  // BN folded into a Conv/Gemm
  int64_t loweredInt8 = 0;       // QDQ patterns now int8 operators
  int64_t fusedActivations = 0;  // activations and residual Adds absorbed by FusedConv/FusedGemm
  int64_t fusedSilus = 0;        // Mul(x, Sigmoid(x)) as QuickGelu, Mul(x, HardSigmoid(x)) as HardSwish
  int64_t channelShuffles = 0;   // Reshape -> Transpose -> Reshape shuffles rewritten as Gather
  int64_t removedDeadNodes = 0;
  int64_t removedInitializers = 0;

  // (pass, count) pairs in pipeline order, for printing.
  std::vector<std::pair<std::string, int64_t>> counts() const;
};

struct OptimizeOptions {
  // Fuse activations into FusedConv/FusedGemm and SiLU gates into QuickGelu (ONNX Runtime's
  // com.microsoft ops). Quantisation turns it off: it wants standard ONNX ops to wrap in QDQ.
  bool fuseActivations = true;
};

// Rounds are bounded: a round that changes something removes or fuses at least one node, and
// this gives up after MAX_OPTIMIZE_ROUNDS anyway. The graph is left valid (it analyses) when
// this succeeds; on failure it may be partly optimised, so callers keep a copy if they need one.
constexpr int64_t MAX_OPTIMIZE_ROUNDS = 16;
Status optimizeGraph(Graph& graph, OptimizeReport* report = nullptr, const OptimizeOptions& options = {});

}  // namespace cleave

#include "runtime/passes/optimize.h"

#include "runtime/analysis.h"
#include "runtime/passes/channel_shuffle.h"
#include "runtime/passes/fold_batch_norm.h"
#include "runtime/passes/fold_constants.h"
#include "runtime/passes/fuse_activation.h"
#include "runtime/passes/fuse_silu.h"
#include "runtime/passes/lower_qdq.h"
#include "runtime/passes/remove_dead_nodes.h"
#include "runtime/passes/remove_noops.h"

namespace cleave {

std::vector<std::pair<std::string, int64_t>> OptimizeReport::counts() const {
  return {{"folded constants", foldedConstants},
          {"QDQ patterns lowered to int8", loweredInt8},
          {"removed no-ops", removedNoops},
          {"folded batch norms", foldedBatchNorms},
          {"fused activations", fusedActivations},
          {"SiLU/HardSwish gates fused", fusedSilus},
          {"channel shuffles as Gather", channelShuffles},
          {"removed dead nodes", removedDeadNodes},
          {"removed initializers", removedInitializers}};
}

Status optimizeGraph(Graph& graph, OptimizeReport* report, const OptimizeOptions& options) {
  OptimizeReport r;
  r.nodesBefore = static_cast<int64_t>(graph.nodes.size());
  r.initializersBefore = static_cast<int64_t>(graph.initializers.size());
  // Dead code first: passes then analyse only what matters, and initializers the original
  // graph never used do not survive.
  DeadCodeCounts dead;
  CLEAVE_TRY(removeDeadNodes(graph, &dead));
  r.removedDeadNodes += dead.nodes;
  r.removedInitializers += dead.initializers;
  for (r.rounds = 1; r.rounds <= MAX_OPTIMIZE_ROUNDS; ++r.rounds) {
    int64_t folded = 0, lowered = 0, noops = 0, batchNorms = 0, fusions = 0, silus = 0, shuffles = 0;
    CLEAVE_TRY(foldConstants(graph, &folded));
    // Before activation fusion, which would hide a QDQ pattern's Relu inside a FusedConv.
    CLEAVE_TRY(lowerQdq(graph, &lowered));
    CLEAVE_TRY(removeNoops(graph, &noops));
    CLEAVE_TRY(foldBatchNorm(graph, &batchNorms));
    if (options.fuseActivations) {
      CLEAVE_TRY(fuseActivations(graph, &fusions));
      CLEAVE_TRY(fuseSilu(graph, &silus));
    }
    CLEAVE_TRY(rewriteChannelShuffles(graph, &shuffles));
    CLEAVE_TRY(removeDeadNodes(graph, &dead));
    r.foldedConstants += folded;
    r.removedNoops += noops;
    r.foldedBatchNorms += batchNorms;
    r.loweredInt8 += lowered;
    r.fusedActivations += fusions;
    r.fusedSilus += silus;
    r.channelShuffles += shuffles;
    r.removedDeadNodes += dead.nodes;
    r.removedInitializers += dead.initializers;
    if (folded + lowered + noops + batchNorms + fusions + silus + shuffles + dead.nodes == 0) break;
  }
  r.rounds = std::min(r.rounds, MAX_OPTIMIZE_ROUNDS);
  // The result must still load: a pass bug should surface here, not in the next session.
  Result<GraphAnalysis> check = analyzeGraph(graph);
  if (!check) return Error{"optimised graph does not analyse: " + check.error().message};
  r.nodesAfter = static_cast<int64_t>(graph.nodes.size());
  r.initializersAfter = static_cast<int64_t>(graph.initializers.size());
  if (report) *report = r;
  return {};
}

}  // namespace cleave

// Magnitude pruning without retraining, per layer, of the convolutions and matrix products with
// constant weights.
//
// Unstructured: in each layer the smallest-magnitude `sparsity` share of the weights become 0.
// Our formats store weights densely (ONNX initializers, stage images), so this saves no bytes,
// RAM or MACs by itself; it makes the file compress better and shows how much a layer tolerates.
// Structured: in each prunable Conv, whole output filters with the smallest L1 norms go, and every
// consumer of those channels shrinks with them (BatchNorm's parameters, the next Conv's input
// channels, a Gemm's input features after global pooling and Flatten). That is what saves flash,
// RAM and MACs on a microcontroller. A Conv is prunable when its channels reach only per-channel
// ops (activations, pooling, BatchNorm) and then ungrouped Convs or Flatten -> Gemm; channels that
// meet a residual Add, a Concat, a graph output or anything else keep every filter.
#pragma once

#include <cstdint>

#include "runtime/graph.h"
#include "runtime/result.h"

namespace cleave {

struct PruneReport {
  int64_t layers = 0;          // layers pruned
  int64_t weightsZeroed = 0;   // unstructured: weights set to 0
  int64_t filtersRemoved = 0;  // structured: output filters removed
  int64_t skippedLayers = 0;   // structured: Convs whose channels meet an Add, Concat, output, ...
};

// `sparsity` in [0, 1). Structured keeps at least one filter per layer.
Result<PruneReport> pruneGraph(Graph& graph, double sparsity, bool structured);

}  // namespace cleave

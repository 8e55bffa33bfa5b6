// Activation fusion: Conv or Gemm followed by Relu, LeakyRelu, Clip (constant bounds), Sigmoid,
// or HardSigmoid becomes one com.microsoft FusedConv/FusedGemm carrying the activation
// (ONNX Runtime's contrib-op spelling: attributes `activation` and `activation_params`), so the
// activation runs on the conv's output while it is still in cache. A residual Add(conv, other)
// with no broadcasting becomes FusedConv with Z = other, so ResNet's Conv -> Add -> Relu ends
// as one node and MobileNetV2's linear-bottleneck Conv -> Add as another.
#pragma once

#include <cstdint>

#include "runtime/graph.h"
#include "runtime/result.h"

namespace cleave {

// `changes` (optional) receives the number of nodes absorbed (activations and Adds). Fails only when the graph does not
// analyse.
Status fuseActivations(Graph& graph, int64_t* changes = nullptr);

}  // namespace cleave

// Gated activations as one op: Mul(x, Sigmoid(x)) -- how PyTorch exports SiLU/Swish, after
// nearly every convolution in EfficientNet -- becomes ONNX Runtime's com.microsoft QuickGelu
// with alpha = 1, and Mul(x, HardSigmoid(x; 1/6, 1/2)) -- PyTorch's HardSwish at opset 13, in
// MobileNetV3 -- becomes ONNX's HardSwish: one pass over the activation instead of a gate
// writing a tensor that a Mul reads back.
#pragma once

#include <cstdint>

#include "runtime/graph.h"
#include "runtime/result.h"

namespace cleave {

// `changes` (optional) receives the number of gate/Mul pairs fused. Fails only when the
// graph does not analyse.
Status fuseSilu(Graph& graph, int64_t* changes = nullptr);

}  // namespace cleave

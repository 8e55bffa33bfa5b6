// Lowers a QDQ model (QuantizeLinear/DequantizeLinear around float ops, as `cleavectl model
// quantize` and ONNX Runtime's quantiser write it) to int8 operators that run on cleave's int8
// kernels (runtime/int8/), TensorFlow Lite Micro's arithmetic:
//
//   DQ(x), DQ(w), DQ(b) -> Conv [-> Relu | Clip(0, m)] -> Q   becomes   QLinearConv
//   DQ(a), DQ(w), DQ(c) -> Gemm | MatMul [-> Relu] -> Q       becomes   com.microsoft QGemm
//   DQ(a), DQ(b) -> Add | Mul [-> Relu] -> Q                  becomes   com.microsoft QLinearAdd | QLinearMul
//   DQ(x_i) -> Concat -> Q                                    becomes   com.microsoft QLinearConcat
//   DQ(x) -> AveragePool | GlobalAveragePool -> Q             becomes   com.microsoft QLinear(Global)AveragePool
//   DQ(x) -> MaxPool | Flatten | Reshape -> Q                 becomes   the same op on the int8 tensor
//
// These are ONNX's and ONNX Runtime's own quantised operators, so a lowered graph still loads in
// ONNX Runtime; cleave computes them with fixed-point requantisation, ONNX Runtime in float, so
// the two agree within one unit in the last place rather than exactly. A pattern is lowered only
// when the arithmetic is TFLM's: int8 activations with per-tensor scales, int8 weights with zero
// points 0 (per channel or per tensor), int32 biases at scale s_x * s_w, and a fused activation
// that the output's saturation already performs (Relu with an output zero point of -128, Clip(0,
// m) whose output range ends at or below m). Anything else stays as it was and runs in float.
#pragma once

#include <cstdint>

#include "runtime/graph.h"
#include "runtime/result.h"

namespace cleave {

Status lowerQdq(Graph& graph, int64_t* changes = nullptr);

}  // namespace cleave

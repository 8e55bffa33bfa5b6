// Post-training quantisation of a float graph into ONNX's QDQ form: QuantizeLinear and
// DequantizeLinear pairs around the float ops, which ONNX's checker accepts, ONNX Runtime runs,
// and cleave lowers to its int8 kernels (passes/lower_qdq.h). The arithmetic is TensorFlow Lite
// Micro's: per-output-channel symmetric int8 weights (zero point 0, range +-127), per-tensor
// asymmetric int8 activations whose range always holds 0 (so zero padding is exact), int32
// biases at scale s_in * s_w[c]. Activations after Conv, Gemm and Add (Relu, Clip from 0) are
// left to the saturation of their output's quantisation, as TFLM fuses them into clamps.
// Pooling, Flatten and Reshape keep their input's scale and zero point (TFLM requires it).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/graph.h"
#include "runtime/quantize/calibration.h"
#include "runtime/result.h"

namespace cleave {

enum class QuantizeMode {
  // int8 weights and activations inside, float input and output: a drop-in replacement. Every op
  // needs an int8 kernel, except a Softmax producing a graph output (it reads the dequantised
  // logits, as TFLM's float Softmax input would).
  Int8,
  // The same, but ops without an int8 kernel stay float between a DequantizeLinear and a
  // QuantizeLinear.
  Int8FloatFallback,
  // int8 input and output as well (for a microcontroller: the sender quantises the input, the
  // result stays int8); refuses a model with any op lacking an int8 kernel.
  IntegerOnly,
};

struct QuantizeReport {
  int64_t quantizedNodes = 0;           // float ops now between DequantizeLinear and QuantizeLinear
  int64_t quantizedValues = 0;          // activations given a scale and zero point
  std::vector<std::string> floatNodes;  // "name (OpType)" of ops left in float
  int64_t weightBytesBefore = 0;        // initializer bytes before and after
  int64_t weightBytesAfter = 0;
};

// Which ops have an int8 kernel in cleave (and are lowered by passes/lower_qdq.h).
bool hasInt8Kernel(const std::string& opType);

// Rewrites `graph` in place. `ranges` come from calibrateRanges on the same graph; the graph must
// not hold quantised ops already nor com.microsoft fusions (quantise before `model optimize`
// fuses activations; optimizeGraph's fuseActivations = false gives the right input).
Result<QuantizeReport> quantizeGraph(Graph& graph, const std::map<std::string, ValueRange>& ranges, QuantizeMode mode);

// float16 mode: every float initializer of more than one element is stored as float16 and cast
// back to float where it is read, as TFLite's float16 quantisation does (the file halves; the
// arithmetic stays float32).
Result<QuantizeReport> storeWeightsAsFloat16(Graph& graph);

}  // namespace cleave

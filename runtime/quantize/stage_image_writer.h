// Writes an int8 graph (a QDQ model after lower_qdq, or one stage of it) as a stage image
// (runtime/int8/stage_image.h): the flat form a microcontroller runs in place from flash.
// Activations are planned into one arena by liveness (memory_plan.h, TFLM's greedy planner);
// the requantisation multipliers are the ones the session's int8 operators compute, so the image
// run on the reference kernels gives the session's bytes.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/graph.h"
#include "runtime/result.h"

namespace cleave {

struct StageImage {
  std::vector<uint8_t> bytes;
  int64_t arenaBytes = 0;
  int64_t weightBytes = 0;  // of which constants (weights, biases, requantisation)
};

// Every runnable node must be an int8 operator, MaxPool or a layout-neutral Flatten/Reshape on
// int8 data, or a per-tensor QuantizeLinear/DequantizeLinear at the float boundary; anything else
// is an error naming the node.
Result<StageImage> writeStageImage(const Graph& graph);

}  // namespace cleave

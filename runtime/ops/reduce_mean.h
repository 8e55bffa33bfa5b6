// ReduceMean over any set of axes (attribute before opset 18, constant input from 18 on).
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/ops/ops.h"

namespace cleave {

// The input's dims with size-1 dims dropped and neighbours of the same kind (kept or reduced)
// merged. GlobalAveragePool-like means over trailing axes come out as {kept, reduced}.
struct ReducePlan {
  std::vector<int64_t> dims;  // never empty
  std::vector<char> reduced;  // per dim: 1 when reduced
  int64_t count = 1;          // elements averaged into each output
  int64_t outputs = 1;
};

ReducePlan planReduce(const Shape& input, const std::vector<bool>& reducedAxes);

// out gets the means; it has plan.outputs elements laid out in the input's kept-axis order.
void reduceMean(const ReducePlan& plan, const float* in, float* out, const RunContext& run);

}  // namespace cleave

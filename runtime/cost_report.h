// The planner's input: what each node costs and what every cut position would send. Built from
// the analysis, so MACs and shapes are exactly those the kernels run with.
#pragma once

#include <string>
#include <vector>

#include "runtime/graph.h"
#include "runtime/op.h"

namespace cleave {

struct NodeCost {
  std::string name;
  std::string opType;
  OpClass opClass = OpClass::Other;
  int64_t macs = 0;
  int64_t weightBytes = 0;  // constant inputs (weights, biases) this node reads
  int64_t outputBytes = 0;
  int64_t liveBytes = 0;    // activation bytes live while it runs: inputs, outputs, values held for later
  // RAM the kernel a session runs for it holds: packed or transformed weights, XNNPACK's
  // indirection buffers (Kernel::heldBytes), fast kernels included.
  int64_t kernelBytes = 0;
  // Working memory it needs while it runs, at one thread (Kernel::workspaceBytes); a session
  // lends its kernels one workspace, the largest they ask for.
  int64_t workspaceBytes = 0;
  std::string outputShape;  // of output 0, for display
  // Runs on int8 data (an int8 operator, or a quantise/dequantise at its float boundary): a device
  // needs int8 kernels for it, not float32 ones.
  bool int8 = false;
};

struct CutCost {
  int64_t position = 0;      // the cut sits before node `position`; 0 = before everything
  int64_t bytes = 0;         // all tensors live across the cut, skip connections included
  std::vector<std::string> tensors;
  int64_t peakBefore = 0;    // peak activation bytes of the nodes before the cut (0 when none)
  int64_t peakAfter = 0;     // peak activation bytes of the nodes after it (0 when none)
};

struct CostReport {
  std::string modelName;
  std::vector<NodeCost> nodes;  // runnable nodes in execution order
  std::vector<CutCost> cuts;    // positions 0..nodes.size()
  int64_t totalMacs = 0;
  int64_t totalWeightBytes = 0;  // each initializer counted once
  int64_t peakActivationBytes = 0;
};

// fastKernels as SessionOptions::fastKernels: whose kernels' memory the report charges.
Result<CostReport> buildCostReport(const Graph& graph, bool fastKernels = true);
std::string costReportJson(const CostReport& report);

}  // namespace cleave

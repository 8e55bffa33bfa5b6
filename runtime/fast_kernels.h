// Fast kernels from a kernel library (XNNPACK) for the nodes it covers, chosen after analysis:
// channels-last kernels (PreparedNode::nhwcKernel) for convolution, pooling, binary arithmetic,
// concatenation and channel picks (Slice, Gather), and faster drop-in kernels for the transcendental activations. A build
// without XNNPACK, or a CPU it does not support, gets none and runs the portable kernels.
#pragma once

#include <memory>
#include <string>

#include "runtime/analysis.h"

namespace cleave {

// True when this build has a kernel library and this CPU can run it.
bool fastKernelsAvailable();
// "XNNPACK" or "none (portable kernels)", for reports.
std::string fastKernelLibrary();
// The engine of the fast kernels' matrix products with constant weights: "XNNPACK", or
// "OpenBLAS" on x86 without AVX-512 (xnnpack/xnn_gemm.h says why); "none" without fast kernels.
std::string fastGemmEngine();

// Adds fast kernels to the analysis's prepared nodes; packs weights (so run it once per session,
// not per analysis). Nodes it does not cover keep their kernels.
void selectFastKernels(const Graph& graph, GraphAnalysis& analysis);

}  // namespace cleave

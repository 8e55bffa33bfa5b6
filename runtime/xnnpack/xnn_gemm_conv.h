// Ungrouped convolutions, channels-last, as BLAS products where the BLAS is the faster GEMM
// (xnn_gemm.h); elsewhere XNNPACK's own convolution runs them.
#pragma once

#include <memory>

#include "runtime/op.h"
#include "runtime/ops/conv.h"

namespace cleave::xnn {

// 2-D, group 1, constant weights and bias, on a process whose products run on the BLAS: the
// kernel; otherwise null.
std::unique_ptr<Kernel> gemmConvolutionNhwc(const NodeContext& ctx, const ConvParams& params);

}  // namespace cleave::xnn

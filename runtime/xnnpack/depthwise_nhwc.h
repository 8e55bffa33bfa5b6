// Depthwise convolution (one filter per channel) on channels-last activations: our kernel,
// several output pixels at a time (depthwise_nhwc.cpp says why not XNNPACK's).
#pragma once

#include <memory>

#include "runtime/op.h"
#include "runtime/ops/conv.h"

namespace cleave::xnn {

// 2-D, group = Cin = Cout, no dilation, at least 3x3 (smaller kernels stay on XNNPACK).
bool depthwiseCovers(const ConvParams& params);
// Covered and measured faster than XNNPACK's: kernels larger than 3x3, and 3x3 with few channels.
bool depthwisePreferred(const ConvParams& params);
// The kernel for such a node (constant weights and bias, no residual), or null.
std::unique_ptr<Kernel> depthwiseConvolutionNhwc(const NodeContext& ctx, const ConvParams& params);

}  // namespace cleave::xnn

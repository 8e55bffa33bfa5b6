// Conv 3x3 with unit stride through Winograd's F(2x2, 3x3) on XNNPACK (xnn_winograd.cpp says how).
#pragma once

#include <memory>

#include "runtime/op.h"
#include "runtime/ops/conv.h"

namespace cleave::xnn {

// 2-D, ungrouped, 3x3, unit stride and dilation, and channels enough on both sides to pay.
bool winogradCovers(const ConvParams& params);
// The kernel for such a node (constant weights and bias), or null.
std::unique_ptr<Kernel> winogradConvolutionNhwc(const NodeContext& ctx, const ConvParams& params);

}  // namespace cleave::xnn

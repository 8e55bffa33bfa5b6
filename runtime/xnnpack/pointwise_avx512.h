// 1x1 convolutions on AVX-512 CPUs: our matrix product with a 12 x 32 register tile, where
// Debian's XNNPACK has only a 7 x 16 one (pointwise_avx512.cpp says why that matters). Builds for
// other targets have neither the kernel nor the path to it.
#pragma once

#include <memory>

#include "runtime/op.h"
#include "runtime/ops/conv.h"

namespace cleave::xnn {

// 2-D, ungrouped, 1x1, unit stride, no padding, and a build for AVX-512.
bool pointwiseAvx512Covers(const ConvParams& params);
// The kernel for such a node (constant weights and bias; FusedConv's residual and activation),
// or null.
std::unique_ptr<Kernel> pointwiseAvx512(const NodeContext& ctx, const ConvParams& params);

}  // namespace cleave::xnn

// Convolutions on AVX-512 CPUs as our own matrix product over channels-last pixels, with a
// 12 x 32 register tile where Debian's XNNPACK has only a 7 x 16 one (conv_avx512.cpp says why
// that matters): 1x1 layers, and layers with few input channels (stems, squeezenet's 16-channel
// 3x3), read in place from the image. Builds for other targets have neither the kernel nor the
// path to it.
#pragma once

#include <memory>

#include "runtime/op.h"
#include "runtime/ops/conv.h"

namespace cleave::xnn {

// 2-D, ungrouped, undilated, and a build for AVX-512; either 1x1 with unit stride and no padding
// and at least 32 channels each side, or fewer than 32 input channels.
bool convAvx512Covers(const ConvParams& params);
// The kernel for such a node (constant weights and bias; FusedConv's residual and activation),
// or null.
std::unique_ptr<Kernel> convAvx512(const NodeContext& ctx, const ConvParams& params);

}  // namespace cleave::xnn

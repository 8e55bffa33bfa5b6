// XNNPACK-backed kernels, built by selectFastKernels (fast_kernels.h) for the nodes they cover.
// Each builder returns null when the node is outside what it covers; the node then runs its own
// kernel. Channels-last builders return a kernel for PreparedNode::nhwcKernel; weights are
// packed here, once, and the packed bytes reported by heldBytes.
#pragma once

#include <memory>

#include "runtime/op.h"

namespace cleave::xnn {

// Conv and com.microsoft FusedConv, 2-D, constant weights and bias: dense, grouped, depthwise.
std::unique_ptr<Kernel> convolutionNhwc(const NodeContext& ctx);
// MaxPool (one output), AveragePool, GlobalAveragePool over 2-D images.
std::unique_ptr<Kernel> poolingNhwc(const NodeContext& ctx, const Shape& outputShape);
// Add, Sub, Mul, Div with rank-4 activations and constants broadcast against them.
std::unique_ptr<Kernel> binaryNhwc(const NodeContext& ctx, const Shape& outputShape);
// Concat of rank-4 activations along channels.
std::unique_ptr<Kernel> concatNhwc(const NodeContext& ctx, const Shape& outputShape);
// Slice of rank-4 activations along channels only (step 1): a strided copy of each pixel's range.
std::unique_ptr<Kernel> channelSliceNhwc(const NodeContext& ctx, const Shape& outputShape);
// Gather along channels of rank-4 activations with constant 1-D indices: a range, a channel
// shuffle, or any other pick within each pixel.
std::unique_ptr<Kernel> channelGatherNhwc(const NodeContext& ctx, const Shape& outputShape);
// Relu, LeakyRelu, Clip (constant bounds), Sigmoid, HardSwish over float data, any layout: a
// replacement for the node's own kernel.
std::unique_ptr<Kernel> unaryActivation(const NodeContext& ctx);

}  // namespace cleave::xnn

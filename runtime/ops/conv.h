// Conv (ONNX opsets 11-17) and com.microsoft FusedConv: 1-3 spatial dims, groups, dilations,
// strides, explicit or automatic padding, optional bias, and for FusedConv an optional residual
// input Z and a fused activation. The attribute parsing and shape arithmetic are exposed as pure
// functions so graph passes (BatchNorm folding, Conv+Add+Relu fusion) reuse exactly the rules
// prepareConv enforces.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/graph.h"
#include "runtime/op.h"
#include "runtime/ops/activation.h"
#include "runtime/result.h"
#include "runtime/tensor.h"

namespace cleave {

enum class AutoPad : uint8_t { NotSet, SameUpper, SameLower, Valid };

// Parses ONNX's auto_pad spelling; error for anything else.
Result<AutoPad> parseAutoPad(const std::string& text);

// A Conv node's attributes resolved against its input shapes: every vector has one entry per
// spatial dim, pads are explicit (auto_pad already applied) and the output shape is known.
struct ConvParams {
  size_t spatialRank = 0;
  int64_t group = 1;
  AutoPad autoPad = AutoPad::NotSet;
  std::vector<int64_t> kernel;
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> padsBegin;
  std::vector<int64_t> padsEnd;
  int64_t batch = 0;
  int64_t inChannels = 0;
  int64_t outChannels = 0;
  Shape inputSpatial;
  Shape outputShape;  // [N, Cout, spatial...]
  // FusedConv only: applied after bias and Z; None for plain Conv.
  Activation activation;

  int64_t inChannelsPerGroup() const { return inChannels / group; }
  int64_t outChannelsPerGroup() const { return outChannels / group; }
  int64_t kernelSize() const;     // product of the kernel dims
  int64_t outputSpatialSize() const;  // product of the output's spatial dims
  int64_t macs() const;
  // group == Cin > 1: every output channel reads one input channel (channel multiplier allowed).
  bool isDepthwise() const { return group > 1 && group == inChannels; }
  // 1x1 kernel, unit strides, no padding: the convolution is a plain matrix product.
  bool isPointwise() const;
};

// Resolves attributes against X's and W's shapes. Pure: errors carry no node name, so a graph
// pass can call it on a Node it is rewriting. Validates ranks, channel/group consistency,
// attribute lengths and ranges, and that every output dim is at least 1.
Result<ConvParams> parseConvParams(const Attributes& attributes, const Shape& x, const Shape& w);
// The same for a node being prepared; errors name the node. Also reads FusedConv's activation.
Result<ConvParams> parseConvParams(const NodeContext& ctx);

// The fused activation of com.microsoft FusedConv/FusedGemm: `activation` (op name) with
// `activation_params` floats; also accepts ONNX Runtime's older FusedGemm spelling
// (leaky_relu_alpha, activation_alpha, activation_beta) when activation_params is absent.
Result<Activation> parseFusedActivation(const Attributes& attributes);

// Output spatial size of one dim with explicit padding (ONNX's floor formula); may be < 1 for
// inputs too small for the kernel, which callers must reject.
int64_t convOutputDim(int64_t input, int64_t kernel, int64_t stride, int64_t dilation, int64_t padBegin,
                      int64_t padEnd);

// Bias, residual and activation in one pass over a block of output rows that is still in cache,
// shared by every Conv path. y and z share the layout: `rows` rows of `cols` values, `stride`
// apart; row r gets bias[r] (bias and z may be null).
void convEpilogue(float* y, const float* z, const float* bias, int64_t rows, int64_t cols, int64_t stride,
                  const Activation& activation);

}  // namespace cleave

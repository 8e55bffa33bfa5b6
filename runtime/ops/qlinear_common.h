// What the int8 operators (qlinear_*.cpp, qgemm.cpp) share: their quantisation parameters, which
// must be constants (the kernels' multipliers and shifts are computed once, at prepare), and the
// NCHW <-> NHWC moves around the channels-last int8 kernels.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/int8/fixed_point.h"
#include "runtime/int8/kernels.h"
#include "runtime/ops/ops.h"

namespace cleave {

// One scale and int8 zero point of an activation.
struct ActivationScale {
  float scale = 1.0f;
  int32_t zeroPoint = 0;
};

// Inputs `scale` and `zeroPoint` as one activation's parameters: constant, a positive finite
// float scalar and an int8 scalar.
Result<ActivationScale> activationScale(const NodeContext& ctx, size_t scale, size_t zeroPoint);

// Input `index` as an int8 activation (not uint8: cleave's kernels are TFLM's signed ones).
Status requireInt8Activation(const NodeContext& ctx, size_t index);

// A per-channel requantisation, owning the arrays cleave_q_requant points at.
struct ChannelRequant {
  std::vector<int32_t> multipliers;
  std::vector<int> shifts;
  int32_t outputZeroPoint = 0;

  // For accumulators at scale inputScale * weightScales[c] (one scale serves every channel when
  // there is only one), into `output`.
  static ChannelRequant forScales(double inputScale, const std::vector<float>& weightScales, int64_t channels,
                                  ActivationScale output);
  // The view the C kernels take; valid while this object lives and is not modified.
  cleave_q_requant view() const { return {multipliers.data(), shifts.data(), outputZeroPoint, -128, 127}; }
  int64_t bytes() const {
    return static_cast<int64_t>(multipliers.size() * sizeof(int32_t) + shifts.size() * sizeof(int));
  }
};

// Constant int8 weights with zero points 0 (input `zeroPoint`, scalar or one per channel) and
// their float scales (input `scale`, scalar or one per channel), `channels` output channels.
Result<std::vector<float>> weightScales(const NodeContext& ctx, size_t scale, size_t zeroPoint, int64_t channels);

// Constant int8 weights in the order the int8 kernels take them, shared by the operators and the
// stage-image writer so both lay them out one way: a convolution's ONNX [O][I/g][KH][KW] as
// [O][KH][KW][I/g]; a matrix product's B as [out][in] (B' as stored when transB is set).
std::vector<int8_t> convWeightsOhwi(const Tensor& weights);
std::vector<int8_t> gemmWeightsOutIn(const Tensor& b, bool transB);

// [N][C][plane] <-> [N][plane][C] for int8 data.
void nchwToNhwc(const int8_t* in, int8_t* out, int64_t batch, int64_t channels, int64_t plane);
void nhwcToNchw(const int8_t* in, int8_t* out, int64_t batch, int64_t channels, int64_t plane);

}  // namespace cleave

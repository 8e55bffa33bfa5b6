// Depthwise int8 convolution (groups == input channels == output channels) on AVX-512, 16
// channels per register: for each output pixel, the taps inside the image accumulate
// (x - zp) * w in int32 lanes, exactly the reference's integers, then the reference's
// requantisation lane by lane (fixed_point_avx512.h). Byte-identical to cleave_q_conv. Builds
// without AVX-512 VNNI have none (available() in packed_gemm.h).
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/int8/kernels.h"

namespace cleave::int8fast {

class DepthwiseConv {
 public:
  // `weights` as the reference takes them: [channels][kernel h][kernel w][1].
  DepthwiseConv(const cleave_q_conv_shape& shape, const int8_t* weights, const int32_t* bias,
                const cleave_q_requant& requant);

  // NHWC int8 in and out, the shape given at construction.
  void run(const int8_t* input, int8_t* output) const;
  int64_t bytes() const;

 private:
  cleave_q_conv_shape shape_;
  int32_t paddedChannels_;
  std::vector<int32_t> weights_;  // [kernel h * kernel w][padded channels], widened once
  std::vector<int32_t> bias_, multiplier_, leftShift_, rightShift_;  // per padded channel
  int32_t outputZeroPoint_ = 0, activationMin_ = -128, activationMax_ = 127;
};

}  // namespace cleave::int8fast

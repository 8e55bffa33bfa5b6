#include "runtime/int8_fast/depthwise.h"

#include <algorithm>

#include "runtime/int8_fast/fixed_point_avx512.h"

namespace cleave::int8fast {

DepthwiseConv::DepthwiseConv(const cleave_q_conv_shape& shape, const int8_t* weights, const int32_t* bias,
                             const cleave_q_requant& requant)
    : shape_(shape), paddedChannels_((shape.out_channels + 15) / 16 * 16) {
  const int32_t taps = shape.kernel_height * shape.kernel_width, channels = shape.out_channels;
  const auto padded = static_cast<size_t>(paddedChannels_);
  weights_.assign(static_cast<size_t>(taps) * padded, 0);
  bias_.assign(padded, 0);
  multiplier_.assign(padded, 0);
  leftShift_.assign(padded, 0);
  rightShift_.assign(padded, 0);
  for (int32_t c = 0; c < channels; ++c) {
    for (int32_t t = 0; t < taps; ++t)
      weights_[static_cast<size_t>(t) * padded + static_cast<size_t>(c)] = weights[int64_t{c} * taps + t];
    bias_[static_cast<size_t>(c)] = bias ? bias[c] : 0;
    multiplier_[static_cast<size_t>(c)] = requant.multiplier[c];
    leftShift_[static_cast<size_t>(c)] = std::max(requant.shift[c], 0);
    rightShift_[static_cast<size_t>(c)] = std::max(-requant.shift[c], 0);
  }
  outputZeroPoint_ = requant.output_zero_point;
  activationMin_ = requant.activation_min;
  activationMax_ = requant.activation_max;
}

int64_t DepthwiseConv::bytes() const {
  return static_cast<int64_t>(
      (weights_.size() + bias_.size() + multiplier_.size() + leftShift_.size() + rightShift_.size()) * sizeof(int32_t));
}

#ifdef CLEAVE_INT8_AVX512
void DepthwiseConv::run(const int8_t* input, int8_t* output) const {
  const cleave_q_conv_shape& s = shape_;
  const int32_t channels = s.in_channels;
  const __m512i zeroIn = _mm512_set1_epi32(s.input_zero_point);
  const __m512i zeroOut = _mm512_set1_epi32(outputZeroPoint_);
  const __m512i low = _mm512_set1_epi32(activationMin_), high = _mm512_set1_epi32(activationMax_);
  for (int32_t n = 0; n < s.batch; ++n) {
    const int8_t* image = input + int64_t{n} * s.in_height * s.in_width * channels;
    int8_t* result = output + int64_t{n} * s.out_height * s.out_width * channels;
    for (int32_t oy = 0; oy < s.out_height; ++oy)
      for (int32_t ox = 0; ox < s.out_width; ++ox) {
        int8_t* pixel = result + (int64_t{oy} * s.out_width + ox) * channels;
        for (int32_t c = 0; c < channels; c += 16) {
          const auto lanes = static_cast<__mmask16>((1u << std::min(16, channels - c)) - 1u);
          __m512i acc = _mm512_loadu_si512(bias_.data() + c);
          for (int32_t ky = 0; ky < s.kernel_height; ++ky) {
            const int32_t iy = oy * s.stride_height - s.pad_top + ky * s.dilation_height;
            if (iy < 0 || iy >= s.in_height) continue;
            for (int32_t kx = 0; kx < s.kernel_width; ++kx) {
              const int32_t ix = ox * s.stride_width - s.pad_left + kx * s.dilation_width;
              if (ix < 0 || ix >= s.in_width) continue;
              const int8_t* in = image + (int64_t{iy} * s.in_width + ix) * channels + c;
              const __m512i x = _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(lanes, in)), zeroIn);
              const __m512i w = _mm512_loadu_si512(weights_.data() +
                                                   static_cast<size_t>(ky * s.kernel_width + kx) *
                                                       static_cast<size_t>(paddedChannels_) +
                                                   static_cast<size_t>(c));
              acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(x, w));
            }
          }
          const __m512i scaled =
              multiply16(acc, _mm512_loadu_si512(multiplier_.data() + c), _mm512_loadu_si512(leftShift_.data() + c),
                         _mm512_loadu_si512(rightShift_.data() + c));
          _mm_mask_storeu_epi8(pixel + c, lanes, narrow16(scaled, zeroOut, low, high));
        }
      }
  }
}
#else
void DepthwiseConv::run(const int8_t*, int8_t*) const {}
#endif

}  // namespace cleave::int8fast

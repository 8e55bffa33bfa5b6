#include "runtime/int8_fast/packed_gemm.h"

#include <algorithm>
#include <array>
#include <cstring>

#if defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define CLEAVE_INT8_VNNI 1
#include "runtime/x86_intrinsics.h"
#endif

namespace cleave::int8fast {
namespace {

constexpr int32_t LANES = 16;  // int32 accumulators per zmm register: output channels per block

int32_t roundUp(int32_t value, int32_t multiple) { return (value + multiple - 1) / multiple * multiple; }

// int8 x as the unsigned byte x + 128 that vpdpbusd takes.
inline uint8_t offsetByte(int8_t x) { return static_cast<uint8_t>(x) ^ 0x80u; }

}  // namespace

bool available() {
#ifdef CLEAVE_INT8_VNNI
  return true;
#else
  return false;
#endif
}

PackedGemm::PackedGemm(const int8_t* weights, const int32_t* bias, int32_t outChannels, int32_t depth,
                       int32_t inputZeroPoint, const cleave_q_requant& requant)
    : outChannels_(outChannels),
      depth_(depth),
      rowBytes_(roundUp(depth, 4)),
      blocks_(roundUp(outChannels, LANES) / LANES),
      inputZeroPoint_(inputZeroPoint),
      outputZeroPoint_(requant.output_zero_point),
      activationMin_(requant.activation_min),
      activationMax_(requant.activation_max) {
  const int32_t groupsOfFour = rowBytes_ / 4;
  const size_t padded = static_cast<size_t>(blocks_) * LANES;
  weights_.assign(padded * static_cast<size_t>(rowBytes_), 0);
  bias_.assign(padded, 0);
  multiplier_.assign(padded, 0);
  leftShift_.assign(padded, 0);
  rightShift_.assign(padded, 0);
  for (int32_t oc = 0; oc < outChannels; ++oc) {
    const int32_t block = oc / LANES, lane = oc % LANES;
    int64_t sum = 0;
    for (int32_t k = 0; k < depth; ++k) {
      const int8_t w = weights[static_cast<int64_t>(oc) * depth + k];
      sum += w;
      const int64_t at = ((static_cast<int64_t>(block) * groupsOfFour + k / 4) * LANES + lane) * 4 + k % 4;
      weights_[static_cast<size_t>(at)] = w;
    }
    // bias + sum((x - zp) w) = bias - (128 + zp) sum(w) + sum((x + 128) w), in int32 arithmetic
    // that wraps as the reference's does.
    const uint32_t correction = static_cast<uint32_t>((128 + int64_t{inputZeroPoint}) * sum);
    const auto c = static_cast<size_t>(oc);
    bias_[c] = static_cast<int32_t>(static_cast<uint32_t>(bias ? bias[oc] : 0) - correction);
    multiplier_[c] = requant.multiplier[oc];
    leftShift_[c] = std::max(requant.shift[oc], 0);
    rightShift_[c] = std::max(-requant.shift[oc], 0);
  }
}

int64_t PackedGemm::bytes() const {
  return static_cast<int64_t>(
      weights_.size() + (bias_.size() + multiplier_.size() + leftShift_.size() + rightShift_.size()) * sizeof(int32_t));
}

#ifdef CLEAVE_INT8_VNNI
namespace {

// cleave_q_requantize on 16 channels: the same integer operations as the reference, lane by lane
// (fixed_point.c): the doubling high multiply on 64-bit products, and the rounding division by a
// power of two as remainder against threshold, which rounds halves away from zero as the
// reference's (x + half - (x < 0)) >> e does, without its 64-bit sum.
inline __m128i requantize16(__m512i acc, const int32_t* bias, const int32_t* multiplier, const int32_t* left,
                            const int32_t* right, __m512i zeroPoint, __m512i low, __m512i high) {
  const __m512i x = _mm512_add_epi32(acc, _mm512_loadu_si512(bias));
  const __m512i m = _mm512_loadu_si512(multiplier);
  const __m512i scaled = _mm512_sllv_epi32(x, _mm512_loadu_si512(left));
  const __m512i nudge = _mm512_set1_epi64(int64_t{1} << 30);
  const __m512i even = _mm512_srai_epi64(_mm512_add_epi64(_mm512_mul_epi32(scaled, m), nudge), 31);
  const __m512i odd = _mm512_srai_epi64(
      _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(scaled, 32), _mm512_srli_epi64(m, 32)), nudge), 31);
  const __m512i product = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));

  const __m512i one = _mm512_set1_epi32(1);
  const __m512i exponent = _mm512_loadu_si512(right);
  const __m512i mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, exponent), one);
  const __m512i remainder = _mm512_and_si512(product, mask);
  const __m512i threshold = _mm512_add_epi32(_mm512_srai_epi32(mask, 1), _mm512_srli_epi32(product, 31));
  __m512i result = _mm512_srav_epi32(product, exponent);
  result = _mm512_mask_add_epi32(result, _mm512_cmpgt_epi32_mask(remainder, threshold), result, one);

  result = _mm512_add_epi32(result, zeroPoint);
  result = _mm512_min_epi32(_mm512_max_epi32(result, low), high);
  return _mm512_cvtepi32_epi8(result);
}

// P rows against B blocks of 16 channels: P * B accumulators stay in registers over the depth.
template <int P, int B>
void microKernel(const uint8_t* rows, int32_t rowBytes, const int8_t* weights, int64_t blockStride,
                 const PackedGemm& gemm, int32_t firstChannel, int8_t* out, int64_t outStride, const int32_t* bias,
                 const int32_t* multiplier, const int32_t* left, const int32_t* right, int32_t zeroPoint, int32_t low,
                 int32_t high) {
  __m512i acc[P][B];
  for (int p = 0; p < P; ++p)
    for (int b = 0; b < B; ++b) acc[p][b] = _mm512_setzero_si512();
  for (int32_t k = 0; k < rowBytes; k += 4) {
    __m512i w[B];
    for (int b = 0; b < B; ++b) w[b] = _mm512_loadu_si512(weights + b * blockStride + k * LANES);
    for (int p = 0; p < P; ++p) {
      int32_t four;
      std::memcpy(&four, rows + static_cast<int64_t>(p) * rowBytes + k, 4);
      const __m512i x = _mm512_set1_epi32(four);
      for (int b = 0; b < B; ++b) acc[p][b] = _mm512_dpbusd_epi32(acc[p][b], x, w[b]);
    }
  }
  const __m512i zp = _mm512_set1_epi32(zeroPoint), lo = _mm512_set1_epi32(low), hi = _mm512_set1_epi32(high);
  for (int b = 0; b < B; ++b) {
    const int32_t channel = firstChannel + b * LANES;
    const int32_t valid = std::min(LANES, gemm.outChannels() - channel);
    const __mmask16 store = static_cast<__mmask16>((1u << valid) - 1u);
    for (int p = 0; p < P; ++p) {
      const __m128i bytes =
          requantize16(acc[p][b], bias + channel, multiplier + channel, left + channel, right + channel, zp, lo, hi);
      _mm_mask_storeu_epi8(out + p * outStride + channel, store, bytes);
    }
  }
}

using MicroKernel = void (*)(const uint8_t*, int32_t, const int8_t*, int64_t, const PackedGemm&, int32_t, int8_t*,
                             int64_t, const int32_t*, const int32_t*, const int32_t*, const int32_t*, int32_t, int32_t,
                             int32_t);
constexpr int MAX_ROWS = 4, MAX_BLOCKS = 4;
template <int P>
constexpr std::array<MicroKernel, MAX_BLOCKS> kernelsForRows() {
  return {microKernel<P, 1>, microKernel<P, 2>, microKernel<P, 3>, microKernel<P, 4>};
}
constexpr std::array<std::array<MicroKernel, MAX_BLOCKS>, MAX_ROWS> MICRO_KERNELS = {
    kernelsForRows<1>(), kernelsForRows<2>(), kernelsForRows<3>(), kernelsForRows<4>()};

}  // namespace

void PackedGemm::run(const uint8_t* rows, int64_t rowCount, int8_t* out, int64_t outStride) const {
  const int64_t blockStride = static_cast<int64_t>(rowBytes_) * LANES;
  for (int64_t r = 0; r < rowCount; r += MAX_ROWS) {
    const int p = static_cast<int>(std::min<int64_t>(MAX_ROWS, rowCount - r));
    for (int32_t b = 0; b < blocks_; b += MAX_BLOCKS) {
      const int count = std::min(MAX_BLOCKS, blocks_ - b);
      MICRO_KERNELS[static_cast<size_t>(p - 1)][static_cast<size_t>(count - 1)](
          rows + r * rowBytes_, rowBytes_, weights_.data() + b * blockStride, blockStride, *this, b * LANES,
          out + r * outStride, outStride, bias_.data(), multiplier_.data(), leftShift_.data(), rightShift_.data(),
          outputZeroPoint_, activationMin_, activationMax_);
    }
  }
}
#else
void PackedGemm::run(const uint8_t*, int64_t, int8_t*, int64_t) const {}
#endif

namespace {

// Output pixels converted to im2col rows per pass: enough rows to keep the micro-kernel busy,
// few enough that the rows stay in L1/L2.
constexpr int64_t PIXELS_PER_PASS = 64;

}  // namespace

int64_t convScratchBytes(const cleave_q_conv_shape& shape, const PackedGemm& gemm) {
  const int64_t pixels = int64_t{shape.out_height} * shape.out_width;
  return std::min(pixels, PIXELS_PER_PASS) * gemm.rowBytes();
}

void conv(const cleave_q_conv_shape& s, const PackedGemm& gemm, const int8_t* input, int8_t* output, uint8_t* scratch) {
  const int64_t pixels = int64_t{s.out_height} * s.out_width;
  const int32_t channels = s.in_channels, rowBytes = gemm.rowBytes();
  const auto padByte = static_cast<uint8_t>(s.input_zero_point + 128);  // contributes (zp - zp) * w = 0
  for (int32_t n = 0; n < s.batch; ++n) {
    const int8_t* image = input + static_cast<int64_t>(n) * s.in_height * s.in_width * channels;
    int8_t* result = output + static_cast<int64_t>(n) * pixels * s.out_channels;
    for (int64_t first = 0; first < pixels; first += PIXELS_PER_PASS) {
      const int64_t count = std::min(PIXELS_PER_PASS, pixels - first);
      for (int64_t i = 0; i < count; ++i) {
        const int64_t pixel = first + i;
        const int32_t oy = static_cast<int32_t>(pixel / s.out_width), ox = static_cast<int32_t>(pixel % s.out_width);
        uint8_t* row = scratch + i * rowBytes;
        for (int32_t ky = 0; ky < s.kernel_height; ++ky) {
          const int32_t iy = oy * s.stride_height - s.pad_top + ky * s.dilation_height;
          for (int32_t kx = 0; kx < s.kernel_width; ++kx, row += channels) {
            const int32_t ix = ox * s.stride_width - s.pad_left + kx * s.dilation_width;
            if (iy < 0 || iy >= s.in_height || ix < 0 || ix >= s.in_width) {
              std::memset(row, padByte, static_cast<size_t>(channels));
              continue;
            }
            const int8_t* src = image + (static_cast<int64_t>(iy) * s.in_width + ix) * channels;
            for (int32_t c = 0; c < channels; ++c) row[c] = offsetByte(src[c]);
          }
        }
        std::memset(row, 0, static_cast<size_t>(rowBytes - gemm.depth()));  // zero weights meet zero bytes
      }
      gemm.run(scratch, count, result + first * s.out_channels, s.out_channels);
    }
  }
}

void fullyConnected(const PackedGemm& gemm, int64_t rows, const int8_t* input, int8_t* output, uint8_t* scratch) {
  const int32_t depth = gemm.depth(), rowBytes = gemm.rowBytes();
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* row = scratch + r * rowBytes;
    for (int32_t k = 0; k < depth; ++k) row[k] = offsetByte(input[r * depth + k]);
    std::memset(row + depth, 0, static_cast<size_t>(rowBytes - depth));
  }
  gemm.run(scratch, rows, output, gemm.outChannels());
}

}  // namespace cleave::int8fast

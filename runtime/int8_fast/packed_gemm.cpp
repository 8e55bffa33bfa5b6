#include "runtime/int8_fast/packed_gemm.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "runtime/int8_fast/fixed_point_avx512.h"

namespace cleave::int8fast {
namespace {

constexpr int32_t LANES = 16;  // int32 accumulators per zmm register: output channels per block

int32_t roundUp(int32_t value, int32_t multiple) { return (value + multiple - 1) / multiple * multiple; }

// int8 x as the unsigned byte x + 128 that vpdpbusd takes.
inline uint8_t offsetByte(int8_t x) { return static_cast<uint8_t>(static_cast<uint8_t>(x) ^ 0x80u); }

}  // namespace

bool available() {
#ifdef CLEAVE_INT8_AVX512
  return true;
#else
  return false;
#endif
}

PackedGemm::PackedGemm(const int8_t* weights, const int32_t* bias, int32_t outChannels, int32_t taps, int32_t channels,
                       int32_t inputZeroPoint, const cleave_q_requant& requant)
    : outChannels_(outChannels),
      taps_(taps),
      channels_(channels),
      paddedChannels_(roundUp(channels, 4)),
      blocks_(roundUp(outChannels, LANES) / LANES),
      inputZeroPoint_(inputZeroPoint),
      outputZeroPoint_(requant.output_zero_point),
      activationMin_(requant.activation_min),
      activationMax_(requant.activation_max) {
  const int64_t depth = int64_t{taps} * paddedChannels_;  // bytes of one block's row of four-byte groups
  const size_t padded = static_cast<size_t>(blocks_) * LANES;
  weights_.assign(padded * static_cast<size_t>(depth), 0);
  bias_.assign(padded, 0);
  multiplier_.assign(padded, 0);
  leftShift_.assign(padded, 0);
  rightShift_.assign(padded, 0);
  for (int32_t oc = 0; oc < outChannels; ++oc) {
    const int32_t block = oc / LANES, lane = oc % LANES;
    int64_t sum = 0;
    for (int32_t t = 0; t < taps; ++t) {
      for (int32_t c = 0; c < channels; ++c) {
        const int8_t w = weights[(int64_t{oc} * taps + t) * channels + c];
        sum += w;
        const int64_t k = int64_t{t} * paddedChannels_ + c;  // position in the padded depth
        weights_[static_cast<size_t>(((block * depth + k - k % 4) * LANES) + lane * 4 + k % 4)] = w;
      }
    }
    // bias + sum((x - zp) w) = bias - (128 + zp) sum(w) + sum((x + 128) w), in int32 arithmetic
    // that wraps as the reference's does.
    const auto correction = static_cast<uint32_t>((128 + int64_t{inputZeroPoint}) * sum);
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

#ifdef CLEAVE_INT8_AVX512
namespace {

struct MicroArgs {
  const uint8_t* const* rowStarts;
  const int64_t* tapOffsets;
  int32_t taps, paddedChannels, outChannels;
  const int8_t* weights;  // the first block's
  int64_t blockStride;    // bytes from one block's weights to the next
  int32_t firstChannel;
  int8_t* out;
  int64_t outStride;
  const int32_t *bias, *multiplier, *left, *right;
  int32_t zeroPoint, low, high;
};

// P rows against B blocks of 16 channels: P * B accumulators stay in registers over the depth.
template <int P, int B>
void microKernel(const MicroArgs& a) {
  __m512i acc[P][B];
  for (int p = 0; p < P; ++p)
    for (int b = 0; b < B; ++b) acc[p][b] = _mm512_setzero_si512();
  const int8_t* w = a.weights;
  for (int32_t t = 0; t < a.taps; ++t) {
    const uint8_t* starts[P];
    for (int p = 0; p < P; ++p) starts[p] = a.rowStarts[p] + a.tapOffsets[t];
    for (int32_t c = 0; c < a.paddedChannels; c += 4, w += 4 * LANES) {
      __m512i weights[B];
      for (int b = 0; b < B; ++b) weights[b] = _mm512_loadu_si512(w + b * a.blockStride);
      for (int p = 0; p < P; ++p) {
        int32_t four;
        std::memcpy(&four, starts[p] + c, 4);
        const __m512i x = _mm512_set1_epi32(four);
        for (int b = 0; b < B; ++b) acc[p][b] = _mm512_dpbusd_epi32(acc[p][b], x, weights[b]);
      }
    }
  }
  const __m512i zp = _mm512_set1_epi32(a.zeroPoint), lo = _mm512_set1_epi32(a.low), hi = _mm512_set1_epi32(a.high);
  for (int b = 0; b < B; ++b) {
    const int32_t channel = a.firstChannel + b * LANES;
    const int32_t valid = std::min(LANES, a.outChannels - channel);
    const auto store = static_cast<__mmask16>((1u << valid) - 1u);
    const __m512i multiplier = _mm512_loadu_si512(a.multiplier + channel);
    const __m512i left = _mm512_loadu_si512(a.left + channel), right = _mm512_loadu_si512(a.right + channel);
    const __m512i bias = _mm512_loadu_si512(a.bias + channel);
    for (int p = 0; p < P; ++p) {
      const __m512i x = _mm512_add_epi32(acc[p][b], bias);
      _mm_mask_storeu_epi8(a.out + p * a.outStride + channel, store,
                           narrow16(multiply16(x, multiplier, left, right), zp, lo, hi));
    }
  }
}

// Tiles of up to 8 rows x 2 blocks or 4 rows x 4 blocks: 16 accumulators either way, enough
// independent vpdpbusd chains to hide the instruction's latency.
using MicroKernel = void (*)(const MicroArgs&);
constexpr int MAX_BLOCKS = 4;
template <int P>
constexpr std::array<MicroKernel, MAX_BLOCKS> kernelsForRows() {
  return {microKernel<P, 1>, microKernel<P, 2>, P <= 4 ? microKernel<P, 3> : nullptr,
          P <= 4 ? microKernel<P, 4> : nullptr};
}
constexpr std::array<std::array<MicroKernel, MAX_BLOCKS>, 8> MICRO_KERNELS = {
    kernelsForRows<1>(), kernelsForRows<2>(), kernelsForRows<3>(), kernelsForRows<4>(),
    kernelsForRows<5>(), kernelsForRows<6>(), kernelsForRows<7>(), kernelsForRows<8>()};

}  // namespace

void PackedGemm::run(const uint8_t* const* rowStarts, const int64_t* tapOffsets, int64_t rowCount, int8_t* out,
                     int64_t outStride) const {
  const int64_t blockStride = int64_t{taps_} * paddedChannels_ * LANES;
  MicroArgs args{rowStarts,
                 tapOffsets,
                 taps_,
                 paddedChannels_,
                 outChannels_,
                 weights_.data(),
                 blockStride,
                 0,
                 out,
                 outStride,
                 bias_.data(),
                 multiplier_.data(),
                 leftShift_.data(),
                 rightShift_.data(),
                 outputZeroPoint_,
                 activationMin_,
                 activationMax_};
  const int maxRows = blocks_ <= 2 ? 8 : 4, maxBlocks = blocks_ <= 2 ? 2 : MAX_BLOCKS;
  for (int64_t r = 0; r < rowCount; r += maxRows) {
    const int p = static_cast<int>(std::min<int64_t>(maxRows, rowCount - r));
    args.rowStarts = rowStarts + r;
    args.out = out + r * outStride;
    for (int32_t b = 0; b < blocks_; b += maxBlocks) {
      const int count = std::min(maxBlocks, blocks_ - b);
      args.weights = weights_.data() + b * blockStride;
      args.firstChannel = b * LANES;
      MICRO_KERNELS[static_cast<size_t>(p - 1)][static_cast<size_t>(count - 1)](args);
    }
  }
}
#else
void PackedGemm::run(const uint8_t* const*, const int64_t*, int64_t, int8_t*, int64_t) const {}
#endif

namespace {

// The padded unsigned image a convolution reads: big enough that every tap of every output pixel
// lands inside it.
struct PaddedImage {
  int32_t height, width;

  static PaddedImage of(const cleave_q_conv_shape& s) {
    const int32_t lastRow = (s.out_height - 1) * s.stride_height + (s.kernel_height - 1) * s.dilation_height;
    const int32_t lastColumn = (s.out_width - 1) * s.stride_width + (s.kernel_width - 1) * s.dilation_width;
    return {std::max(s.pad_top + s.in_height, lastRow + 1), std::max(s.pad_left + s.in_width, lastColumn + 1)};
  }
};

// Output pixels whose row starts are computed at once.
constexpr int64_t PIXELS_PER_PASS = 64;

}  // namespace

int64_t convScratchBytes(const cleave_q_conv_shape& shape, const PackedGemm& gemm) {
  const PaddedImage image = PaddedImage::of(shape);
  return int64_t{image.height} * image.width * gemm.paddedChannels();
}

void conv(const cleave_q_conv_shape& s, const PackedGemm& gemm, const int8_t* input, bool inputNchw, int8_t* output,
          uint8_t* scratch) {
  const PaddedImage padded = PaddedImage::of(s);
  const int32_t channels = s.in_channels, stride = gemm.paddedChannels();
  const int64_t plane = int64_t{s.in_height} * s.in_width, outPixels = int64_t{s.out_height} * s.out_width;
  std::vector<int64_t> tapOffsets;
  for (int32_t ky = 0; ky < s.kernel_height; ++ky)
    for (int32_t kx = 0; kx < s.kernel_width; ++kx)
      tapOffsets.push_back((int64_t{ky} * s.dilation_height * padded.width + int64_t{kx} * s.dilation_width) * stride);
  std::array<const uint8_t*, PIXELS_PER_PASS> rowStarts{};
  for (int32_t n = 0; n < s.batch; ++n) {
    // Padding taps read the zero point + 128, which contributes (zp - zp) * w = 0 as the
    // reference's skipped tap does; the channels beyond `channels` meet zero weights.
    std::memset(scratch, s.input_zero_point + 128, static_cast<size_t>(int64_t{padded.height} * padded.width * stride));
    const int8_t* image = input + n * plane * channels;
    for (int32_t y = 0; y < s.in_height; ++y) {
      uint8_t* row = scratch + ((int64_t{y} + s.pad_top) * padded.width + s.pad_left) * stride;
      for (int32_t x = 0; x < s.in_width; ++x)
        for (int32_t c = 0; c < channels; ++c)
          row[int64_t{x} * stride + c] = offsetByte(inputNchw ? image[c * plane + int64_t{y} * s.in_width + x]
                                                              : image[(y * int64_t{s.in_width} + x) * channels + c]);
    }
    int8_t* result = output + n * outPixels * s.out_channels;
    for (int64_t first = 0; first < outPixels; first += PIXELS_PER_PASS) {
      const int64_t count = std::min(PIXELS_PER_PASS, outPixels - first);
      for (int64_t i = 0; i < count; ++i) {
        const int64_t oy = (first + i) / s.out_width, ox = (first + i) % s.out_width;
        rowStarts[static_cast<size_t>(i)] =
            scratch + (oy * s.stride_height * padded.width + ox * s.stride_width) * stride;
      }
      gemm.run(rowStarts.data(), tapOffsets.data(), count, result + first * s.out_channels, s.out_channels);
    }
  }
}

void fullyConnected(const PackedGemm& gemm, int64_t rows, const int8_t* input, int8_t* output, uint8_t* scratch) {
  const int32_t depth = gemm.channels(), rowBytes = gemm.paddedChannels();
  const int64_t noOffset = 0;
  for (int64_t first = 0; first < rows; first += PIXELS_PER_PASS) {
    const int64_t count = std::min(PIXELS_PER_PASS, rows - first);
    std::array<const uint8_t*, PIXELS_PER_PASS> rowStarts{};
    for (int64_t r = 0; r < count; ++r) {
      uint8_t* row = scratch + (first + r) * rowBytes;
      for (int32_t k = 0; k < depth; ++k) row[k] = offsetByte(input[(first + r) * depth + k]);
      std::memset(row + depth, 0, static_cast<size_t>(rowBytes - depth));
      rowStarts[static_cast<size_t>(r)] = row;
    }
    gemm.run(rowStarts.data(), &noOffset, count, output + first * gemm.outChannels(), gemm.outChannels());
  }
}

}  // namespace cleave::int8fast

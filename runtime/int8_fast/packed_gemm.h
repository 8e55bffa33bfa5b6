// The int8 kernels' fast path on x86 with AVX-512 VNNI (vpdpbusd: 64 int8 products summed into
// 16 int32 lanes per instruction), bit-identical to the reference kernels in runtime/int8/:
// every accumulator is the same exact integer, and the requantisation is the reference's
// fixed-point arithmetic lane by lane. vpdpbusd multiplies unsigned by signed bytes, so inputs
// travel as u = x + 128 and the packed bias absorbs the difference: sum((x - zp) * w) =
// sum(u * w) - (128 + zp) * sum(w). A padding tap is written as u = zp + 128 and so contributes
// nothing, as the reference's skipped tap does. Builds without VNNI have no fast path
// (available() is false) and run the reference kernels.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/int8/kernels.h"

namespace cleave::int8fast {

// True when this build has the VNNI kernels (compiled for a CPU with AVX-512 BW and VNNI).
bool available();

// Weights [out][taps][channels] packed for the VNNI product, each tap's channels padded to a
// multiple of 4, with their requantisation. A fully connected layer is one tap.
class PackedGemm {
 public:
  // `weights` is [outChannels][taps][channels]; `bias` may be null; `requant` as the reference
  // takes it.
  PackedGemm(const int8_t* weights, const int32_t* bias, int32_t outChannels, int32_t taps, int32_t channels,
             int32_t inputZeroPoint, const cleave_q_requant& requant);

  int32_t outChannels() const { return outChannels_; }
  int32_t taps() const { return taps_; }
  int32_t channels() const { return channels_; }
  // Channels of one tap as the product reads them: rounded up to 4 (the extra weights are 0).
  int32_t paddedChannels() const { return paddedChannels_; }
  int32_t inputZeroPoint() const { return inputZeroPoint_; }
  int64_t bytes() const;

  // For `rowCount` output rows: row r's tap t starts at rowStarts[r] + tapOffsets[t] and holds
  // paddedChannels() unsigned inputs (x + 128). Writes rowCount x outChannels int8 outputs,
  // `outStride` bytes from one output row to the next.
  void run(const uint8_t* const* rowStarts, const int64_t* tapOffsets, int64_t rowCount, int8_t* out,
           int64_t outStride) const;

 private:
  int32_t outChannels_, taps_, channels_, paddedChannels_, blocks_, inputZeroPoint_;
  std::vector<int8_t> weights_;  // [block of 16 channels][depth / 4][16][4]
  std::vector<int32_t> bias_;    // corrected for the input's offset, per (padded) channel
  std::vector<int32_t> multiplier_, leftShift_, rightShift_;
  int32_t outputZeroPoint_, activationMin_, activationMax_;
};

// An ungrouped convolution. The input (NCHW, or NHWC as the reference takes it) is copied once
// into `scratch` as an unsigned NHWC image with its padding filled with the input's zero point,
// and every tap of every output pixel is read from there in place (no im2col). The output is
// NHWC. `scratch` holds at least convScratchBytes(shape, gemm) bytes.
int64_t convScratchBytes(const cleave_q_conv_shape& shape, const PackedGemm& gemm);
void conv(const cleave_q_conv_shape& shape, const PackedGemm& gemm, const int8_t* input, bool inputNchw, int8_t* output,
          uint8_t* scratch);

// A fully connected layer (one tap of gemm.channels() inputs): `rows` rows of int8 inputs;
// `scratch` holds at least rows * gemm.paddedChannels() bytes.
void fullyConnected(const PackedGemm& gemm, int64_t rows, const int8_t* input, int8_t* output, uint8_t* scratch);

}  // namespace cleave::int8fast

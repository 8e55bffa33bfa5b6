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

// Weights [out][depth] packed for the VNNI product, with their requantisation.
class PackedGemm {
 public:
  // `weights` is [outChannels][depth]; `bias` may be null; `requant` as the reference takes it.
  PackedGemm(const int8_t* weights, const int32_t* bias, int32_t outChannels, int32_t depth, int32_t inputZeroPoint,
             const cleave_q_requant& requant);

  int32_t outChannels() const { return outChannels_; }
  int32_t depth() const { return depth_; }
  // Bytes of one input row: depth rounded up to 4 (the padding bytes must be 0).
  int32_t rowBytes() const { return rowBytes_; }
  int32_t inputZeroPoint() const { return inputZeroPoint_; }
  int64_t bytes() const;

  // rows x rowBytes() unsigned inputs (x + 128) -> rows x outChannels int8 outputs, `outStride`
  // bytes from one output row to the next.
  void run(const uint8_t* rows, int64_t rowCount, int8_t* out, int64_t outStride) const;

 private:
  int32_t outChannels_, depth_, rowBytes_, blocks_, inputZeroPoint_;
  std::vector<int8_t> weights_;  // [block of 16 channels][depth / 4][16][4]
  std::vector<int32_t> bias_;    // corrected for the input's offset, per (padded) channel
  std::vector<int32_t> multiplier_, leftShift_, rightShift_;
  int32_t outputZeroPoint_, activationMin_, activationMax_;
};

// A convolution (any grouping with one group, i.e. groups == 1) over NHWC data as im2col rows fed
// to `gemm`; `scratch` holds at least convScratchBytes(shape, gemm) bytes.
int64_t convScratchBytes(const cleave_q_conv_shape& shape, const PackedGemm& gemm);
void conv(const cleave_q_conv_shape& shape, const PackedGemm& gemm, const int8_t* input, int8_t* output,
          uint8_t* scratch);

// A fully connected layer: `rows` rows of gemm.depth() int8 inputs; `scratch` holds at least
// rows * gemm.rowBytes() bytes.
void fullyConnected(const PackedGemm& gemm, int64_t rows, const int8_t* input, int8_t* output, uint8_t* scratch);

}  // namespace cleave::int8fast

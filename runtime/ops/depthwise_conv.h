// Depthwise convolution (group == Cin, channel multiplier allowed, 1-D or 2-D), the Conv path
// mobilenet-style models spend much of their time in. Two kernels:
//   - direct 3x3 (2-D, 3x3, dilation 1, stride 1 or 2 in both dims, any pads; AVX-512 builds):
//     reads the input planes in place with masked vector loads, so the padding costs nothing,
//     de-interleaves even/odd columns in registers for stride 2, computes several output rows
//     per pass so each input row is loaded once for all of them, and applies bias, the residual
//     Z and the activation before the single store;
//   - generic (everything else): copies each plane into a zero-padded buffer split by column
//     phase, then one auto-vectorised pass per output row.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/op.h"
#include "runtime/ops/conv.h"

namespace cleave {

struct DepthwiseOptions {
  // Vector width of the direct kernel: 0 picks per layer (whichever wastes fewer lanes on the
  // output rows), 8 or 16 force one (tests cover both).
  int lanes = 0;
  // False forces the generic kernel (tests compare both against the reference).
  bool allowDirect = true;
};

// A depthwise convolution prepared for one geometry. `p` must satisfy p.isDepthwise() and
// p.spatialRank <= 2; prepareConv guarantees both before choosing this path.
class DepthwiseConv {
 public:
  explicit DepthwiseConv(const ConvParams& p, DepthwiseOptions options = {});

  // x: [N, Cin, spatial...], w: [Cout, 1, kernel...], bias: [Cout] or null, z: output-shaped or
  // null. Writes y = activation(conv(x, w) + bias + z). Channels are split over ctx's threads.
  void run(const float* x, const float* w, const float* bias, const float* z, float* y, const RunContext& ctx) const;

  // Working memory a run needs from RunContext::workspace (Kernel::workspaceBytes).
  int64_t workspaceBytes(int threads) const;

  // Whether the direct 3x3 kernel runs, and at which vector width (0 for the generic kernel).
  bool direct() const { return lanes_ != 0; }
  int lanes() const { return lanes_; }

  // Whether this build and these params can use the direct kernel.
  static bool supportsDirect(const ConvParams& p);

  // One vector-wide block of an output row for the direct kernel: where it starts and which
  // lanes of each of its loads lie inside the input row (the rest read as zero padding).
  struct Block {
    int64_t ow0 = 0;
    uint32_t load[3] = {0, 0, 0};  // stride 1: taps kw = 0..2; stride 2: the three loads
    uint32_t store = 0;            // output lanes inside the row
    bool full = false;             // store mask covers every lane
  };

 private:
  int64_t genericPlaneBytes() const;
  void runGeneric(const float* x, const float* w, const float* bias, const float* z, float* y,
                  const RunContext& ctx) const;
  void runDirect(const float* x, const float* w, const float* bias, const float* z, float* y,
                 const RunContext& ctx) const;

  ConvParams p_;
  int64_t multiplier_ = 1;
  // 2-D view: 1-D convolutions have height 1.
  int64_t inH_ = 1, inW_ = 1, outH_ = 1, outW_ = 1, kh_ = 1, kw_ = 1, sh_ = 1, sw_ = 1, dh_ = 1, dw_ = 1;
  int64_t padTop_ = 0, padLeft_ = 0, padBottom_ = 0, padRight_ = 0;
  int lanes_ = 0;
  std::vector<Block> blocks_;
  // Stands in for input rows in the top/bottom padding: the direct kernel reads it like a row.
  std::vector<float> zeroRow_;
};

}  // namespace cleave

// Winograd F(2x2, 3x3) convolution (Lavin & Gray, "Fast Algorithms for Convolutional Neural
// Networks"): each 2x2 block of outputs comes from a 4x4 input tile with 16 multiplies per
// (input, output) channel pair instead of 36, so the dense 3x3 stride-1 layers of resnet-style
// models do 2.25x fewer MACs than im2col + GEMM. Per block of tile rows:
//   V = B^T d B for every tile and input channel   -> 16 matrices [Cin x tiles]
//   M_k = U_k V_k, U = G g G^T (transformed once)  -> 16 GEMMs [Cout x Cin] x [Cin x tiles]
//   Y = A^T M A, then bias, residual Z and activation (conv's shared epilogue)
// Blocks are sized so V and M stay in L2 between the transforms and the GEMMs. The transforms
// add rounding: results differ from direct convolution by a few ulps of the largest partial
// sums, well under 1e-4 relative for normal activations.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/op.h"
#include "runtime/ops/conv.h"

namespace cleave {

struct WinogradOptions {
  // Tile rows (of 2 output rows each) per block; 0 picks them from the L2 budget. Tests force
  // small blocks to cover block edges.
  int64_t tileRowsPerBlock = 0;
};

// A Winograd convolution prepared for one geometry and one constant weight tensor.
class WinogradConv {
 public:
  // `p` must satisfy supports(p); w is [Cout, Cin, 3, 3] and is only read here.
  WinogradConv(const ConvParams& p, const float* w, WinogradOptions options = {});

  // 2-D, 3x3 kernel, unit strides and dilations, group 1, any explicit pads, Cin and Cout >= 16.
  static bool supports(const ConvParams& p);
  // Whether this path beats im2col + GEMM for `p` (a rule measured on this machine; see
  // winograd_conv.cpp). Implies supports(p).
  static bool preferred(const ConvParams& p);

  // x: [N, Cin, H, W], bias: [Cout] or null, z: output-shaped or null. Writes
  // y = activation(conv(x, w) + bias + z). Blocks of tile rows are split over ctx's threads.
  void run(const float* x, const float* bias, const float* z, float* y, const RunContext& ctx) const;

  int64_t tileRowsPerBlock() const { return tileRowsPerBlock_; }
  // Working memory a run needs from RunContext::workspace (Kernel::workspaceBytes).
  int64_t workspaceBytes(int threads) const;

 private:
  struct BlockBuffers {
    int64_t half = 0, padW = 0, padRows = 0, vStride = 0, mStride = 0, floats = 0;
  };
  BlockBuffers blockBuffers(int64_t tileRows) const;
  void runBlock(const float* x, const float* bias, const float* z, float* y, int64_t th0, int64_t th1,
                float* scratch) const;

  ConvParams p_;
  int64_t cin_ = 0, cout_ = 0;
  int64_t inH_ = 0, inW_ = 0, outH_ = 0, outW_ = 0, padTop_ = 0, padLeft_ = 0;
  int64_t tilesH_ = 0, tilesW_ = 0;
  int64_t tileRowsPerBlock_ = 1;
  std::vector<float> u_;  // [16][Cout][Cin]: G g G^T, element (i, j) of the 4x4 in matrix 4i + j
};

}  // namespace cleave

#include "runtime/ops/winograd_conv.h"

#include <algorithm>
#include <cstring>

// GCC 12 reports false -Wmaybe-uninitialized inside its own AVX-512 intrinsics as Eigen inlines
// them; the warnings are located in those headers, so silencing them around the include is enough.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop

#include "runtime/thread_pool.h"

namespace cleave {

namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstRowMap = Eigen::Map<const RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using RowMap = Eigen::Map<RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;

// Floats of V and M per block: both together about half of this machine's 2 MB L2, leaving room
// for the GEMM's packed panels of U. Twice this (9 tile rows instead of 4 on resnet18's layer1
// and layer2) measured no faster: 1.64/1.62 ms vs 1.41/1.49 ms in the same minute.
constexpr int64_t BLOCK_FLOATS = 256 * 1024;


// V = B^T d B for the tiles of one tile row, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
// Input row i of the tiles is split by column parity (e[i][t] = column 2t, o[i][t] = column 2t+1)
// so tile t reads e[t], o[t], e[t+1], o[t+1]: unit-stride loads, vectorised over the tiles.
// Element (i, j) of tile t goes to out[(4i + j) * stride + t].
void inputTransformRow(const float* __restrict e0, const float* __restrict o0, const float* __restrict e1,
                       const float* __restrict o1, const float* __restrict e2, const float* __restrict o2,
                       const float* __restrict e3, const float* __restrict o3, float* __restrict out, int64_t stride,
                       int64_t tiles) {
  // The 16 output streams never overlap (stride >= tiles); GCC cannot prove it for a run-time stride.
#pragma GCC ivdep
  for (int64_t t = 0; t < tiles; ++t) {
    // Rows of B^T d, columns 0..3.
    float a0 = e0[t] - e2[t], a1 = o0[t] - o2[t], a2 = e0[t + 1] - e2[t + 1], a3 = o0[t + 1] - o2[t + 1];
    float b0 = e1[t] + e2[t], b1 = o1[t] + o2[t], b2 = e1[t + 1] + e2[t + 1], b3 = o1[t + 1] + o2[t + 1];
    float c0 = e2[t] - e1[t], c1 = o2[t] - o1[t], c2 = e2[t + 1] - e1[t + 1], c3 = o2[t + 1] - o1[t + 1];
    float d0 = e1[t] - e3[t], d1 = o1[t] - o3[t], d2 = e1[t + 1] - e3[t + 1], d3 = o1[t + 1] - o3[t + 1];
    // Times B, row by row.
    out[0 * stride + t] = a0 - a2;
    out[1 * stride + t] = a1 + a2;
    out[2 * stride + t] = a2 - a1;
    out[3 * stride + t] = a1 - a3;
    out[4 * stride + t] = b0 - b2;
    out[5 * stride + t] = b1 + b2;
    out[6 * stride + t] = b2 - b1;
    out[7 * stride + t] = b1 - b3;
    out[8 * stride + t] = c0 - c2;
    out[9 * stride + t] = c1 + c2;
    out[10 * stride + t] = c2 - c1;
    out[11 * stride + t] = c1 - c3;
    out[12 * stride + t] = d0 - d2;
    out[13 * stride + t] = d1 + d2;
    out[14 * stride + t] = d2 - d1;
    out[15 * stride + t] = d1 - d3;
  }
}

// Y = A^T M A for the tiles of one tile row, A^T = [1 1 1 0; 0 1 -1 -1]: m[k * stride + t] is
// element k of tile t; the 2x2 results go to y0/y1 columns 2t, 2t+1 (full tiles only).
void outputTransformRow(const float* __restrict m, int64_t stride, float* __restrict y0, float* __restrict y1,
                        int64_t tiles) {
  for (int64_t t = 0; t < tiles; ++t) {
    float s0[4], s1[4];
    for (int j = 0; j < 4; ++j) {
      float m0 = m[j * stride + t], m1 = m[(4 + j) * stride + t], m2 = m[(8 + j) * stride + t],
            m3 = m[(12 + j) * stride + t];
      s0[j] = m0 + m1 + m2;
      s1[j] = m1 - m2 - m3;
    }
    y0[2 * t] = s0[0] + s0[1] + s0[2];
    y0[2 * t + 1] = s0[1] - s0[2] - s0[3];
    y1[2 * t] = s1[0] + s1[1] + s1[2];
    y1[2 * t + 1] = s1[1] - s1[2] - s1[3];
  }
}

}  // namespace

bool WinogradConv::supports(const ConvParams& p) {
  return p.spatialRank == 2 && p.group == 1 && p.kernel[0] == 3 && p.kernel[1] == 3 && p.strides[0] == 1 &&
         p.strides[1] == 1 && p.dilations[0] == 1 && p.dilations[1] == 1 && p.inChannels >= 16 &&
         p.outChannels >= 16;
}

bool WinogradConv::preferred(const ConvParams& p) {
  if (!supports(p)) return false;
  // Best of runs against im2col + GEMM (winograd_conv_test's benchmark), single thread, shared
  // 2-core AMD EPYC (AVX-512, 2 MB L2), pad 1, Cin = Cout = C, C@size:
  //   64@56 3.1 -> 1.7 ms, 128@28 2.9 -> 1.4, 256@14 2.8 -> 1.8, 32@112 3.6 -> 1.7,
  //   64@14 0.23 -> 0.13, 64@7 0.085 -> 0.054, 128@7 0.24 -> 0.14, 256@7 0.90 -> 0.60,
  //   256@9 1.40 -> 1.33, 512@10 6.1 -> 5.3, but 512@7 3.7 -> 3.7 (3.9 -> 3.8).
  // Few tiles make the 16 GEMMs weight-bound ([Cout x Cin] x [Cin x tiles]) and U holds 16/9
  // as much data as W, so with 16 MB of U (512 x 512) and 16 tiles the MAC saving is gone.
  int64_t tiles = ((p.outputShape[2] + 1) / 2) * ((p.outputShape[3] + 1) / 2);
  return tiles >= 25 || p.inChannels * p.outChannels < 512 * 512;
}

WinogradConv::WinogradConv(const ConvParams& p, const float* w, WinogradOptions options)
    : p_(p),
      cin_(p.inChannels),
      cout_(p.outChannels),
      inH_(p.inputSpatial[0]),
      inW_(p.inputSpatial[1]),
      outH_(p.outputShape[2]),
      outW_(p.outputShape[3]),
      padTop_(p.padsBegin[0]),
      padLeft_(p.padsBegin[1]),
      tilesH_((outH_ + 1) / 2),
      tilesW_((outW_ + 1) / 2) {
  int64_t rows = options.tileRowsPerBlock;
  if (rows <= 0) {
    rows = BLOCK_FLOATS / std::max<int64_t>(1, 16 * (cin_ + cout_) * tilesW_);
    // Every block streams all of U through the GEMMs; when U outweighs V and M for the whole
    // image (deep layers: many channels, small planes), one block costs less than L2 misses.
    if (16 * cin_ * cout_ >= 16 * (cin_ + cout_) * tilesH_ * tilesW_) rows = tilesH_;
  }
  tileRowsPerBlock_ = std::clamp<int64_t>(rows, 1, tilesH_);

  // U = G g G^T in double, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
  static constexpr double G[4][3] = {{1.0, 0.0, 0.0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0.0, 0.0, 1.0}};
  u_.assign(static_cast<size_t>(16 * cout_ * cin_), 0.0f);
  for (int64_t co = 0; co < cout_; ++co) {
    for (int64_t ci = 0; ci < cin_; ++ci) {
      const float* g = w + (co * cin_ + ci) * 9;
      double gg[4][3];  // G g
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 3; ++j)
          gg[i][j] = G[i][0] * static_cast<double>(g[j]) + G[i][1] * static_cast<double>(g[3 + j]) +
                     G[i][2] * static_cast<double>(g[6 + j]);
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
          double v = gg[i][0] * G[j][0] + gg[i][1] * G[j][1] + gg[i][2] * G[j][2];
          u_[static_cast<size_t>(((i * 4 + j) * cout_ + co) * cin_ + ci)] = static_cast<float>(v);
        }
    }
  }
}

void WinogradConv::run(const float* x, const float* bias, const float* z, float* y, const RunContext& ctx) const {
  int64_t rowsPerBlock = tileRowsPerBlock_;
  if (ctx.pool && ctx.pool->size() > 1) {
    // Enough blocks for every thread (two each, to even out the tail).
    int64_t want = 2 * ctx.pool->size();
    int64_t perImage = std::max<int64_t>(1, want / std::max<int64_t>(1, p_.batch));
    rowsPerBlock = std::min(rowsPerBlock, std::max<int64_t>(1, (tilesH_ + perImage - 1) / perImage));
  }
  const int64_t blocks = (tilesH_ + rowsPerBlock - 1) / rowsPerBlock;
  const int64_t inImage = cin_ * inH_ * inW_, outImage = cout_ * outH_ * outW_;
  const int64_t sliceBytes = alignedFloatBytes(blockBuffers(tileRowsPerBlock_).floats);
  ctx.parallelChunks(p_.batch * blocks, 1, [&](int64_t chunk, int64_t begin, int64_t end) {
    float* scratch = ctx.workspaceFloats(chunk, sliceBytes);
    for (int64_t unit = begin; unit < end; ++unit) {
      int64_t n = unit / blocks, block = unit % blocks;
      int64_t th0 = block * rowsPerBlock, th1 = std::min(tilesH_, th0 + rowsPerBlock);
      runBlock(x + n * inImage, bias, z ? z + n * outImage : nullptr, y + n * outImage, th0, th1, scratch);
    }
  });
}

// The working buffers of a block of `tileRows` tile rows, in floats, one after another in the
// block's slice of the workspace.
WinogradConv::BlockBuffers WinogradConv::blockBuffers(int64_t tileRows) const {
  BlockBuffers b;
  // Input rows of one channel, zero-padded to the tiles' columns -padLeft .. 2 tilesW - padLeft
  // + 1 (so the transform needs no bounds checks) and split by column parity: row r is `half`
  // even columns then `half` odd ones.
  b.half = tilesW_ + 1;
  b.padW = 2 * b.half;
  b.padRows = 2 * tileRows + 2;
  // The transforms read or write all 16 matrices at once; an odd number of cache lines between
  // them spreads the 16 streams over distinct L1 sets. (With a multiple of 4 KB, as for
  // 64 x 112, 128 x 56 and 256 x 28 floats, they all share one 8-way set: 25-50% slower.)
  auto spread = [](int64_t floats) {
    int64_t lines = (floats + 15) / 16;
    return 16 * (lines % 2 == 0 ? lines + 1 : lines);
  };
  const int64_t tiles = tileRows * tilesW_;
  b.vStride = spread(cin_ * tiles);
  b.mStride = spread(cout_ * tiles);
  // padded rows, one row before the parity split, V, M, a junk output row
  b.floats = b.padW * b.padRows + b.padW + 16 * b.vStride + 16 * b.mStride + outW_ + 1;
  return b;
}

int64_t WinogradConv::workspaceBytes(int threads) const {
  return threads * alignedFloatBytes(blockBuffers(tileRowsPerBlock_).floats);
}

// One image, tile rows [th0, th1): output rows [2 th0, min(2 th1, outH)).
void WinogradConv::runBlock(const float* x, const float* bias, const float* z, float* y, int64_t th0, int64_t th1,
                            float* scratch) const {
  const int64_t tilesW = tilesW_, tiles = (th1 - th0) * tilesW;
  const BlockBuffers b = blockBuffers(th1 - th0);
  const int64_t half = b.half, padW = b.padW, padRows = b.padRows;
  const int64_t padFloats = padW * padRows;
  const int64_t vStride = b.vStride, mStride = b.mStride;
  const int64_t vFloats = 16 * vStride, mFloats = 16 * mStride;
  float* padded = scratch;
  float* line = padded + padFloats;  // one padded row before the parity split
  float* v = line + padW;
  float* m = v + vFloats;
  float* junkRow = m + mFloats;  // receives the second output row of a tile past the bottom edge

  // Columns of a padded row that come from the input row: [colLo, colHi).
  const int64_t colLo = std::min(padW, padLeft_), colHi = std::clamp<int64_t>(padLeft_ + inW_, colLo, padW);
  for (int64_t c = 0; c < cin_; ++c) {
    const float* plane = x + c * inH_ * inW_;
    for (int64_t r = 0; r < padRows; ++r) {
      float* __restrict even = padded + r * padW;
      float* __restrict odd = even + half;
      int64_t ih = 2 * th0 - padTop_ + r;
      if (ih < 0 || ih >= inH_) {
        std::fill(even, even + padW, 0.0f);
        continue;
      }
      std::fill(line, line + colLo, 0.0f);
      std::memcpy(line + colLo, plane + ih * inW_ + (colLo - padLeft_), static_cast<size_t>(colHi - colLo) * sizeof(float));
      std::fill(line + colHi, line + padW, 0.0f);
      const float* __restrict src = line;
      for (int64_t i = 0; i < half; ++i) {
        even[i] = src[2 * i];
        odd[i] = src[2 * i + 1];
      }
    }
    for (int64_t lr = 0; lr < th1 - th0; ++lr) {
      const float* r0 = padded + 2 * lr * padW;
      const float* r1 = r0 + padW;
      const float* r2 = r1 + padW;
      const float* r3 = r2 + padW;
      inputTransformRow(r0, r0 + half, r1, r1 + half, r2, r2 + half, r3, r3 + half, v + c * tiles + lr * tilesW,
                        vStride, tilesW);
    }
  }

  for (int64_t k = 0; k < 16; ++k) {
    ConstRowMap um(u_.data() + k * cout_ * cin_, cout_, cin_, Eigen::OuterStride<>(cin_));
    ConstRowMap vm(v + k * vStride, cin_, tiles, Eigen::OuterStride<>(tiles));
    RowMap mm(m + k * mStride, cout_, tiles, Eigen::OuterStride<>(tiles));
    mm.noalias() = um * vm;
  }

  // Y = A^T M A, A^T = [1 1 1 0; 0 1 -1 -1], then the epilogue while the rows are in cache.
  const int64_t outPlane = outH_ * outW_, fullW = outW_ / 2;
  const int64_t oh0 = 2 * th0, oh1 = std::min(outH_, 2 * th1);
  for (int64_t co = 0; co < cout_; ++co) {
    float* yPlane = y + co * outPlane;
    for (int64_t lr = 0; lr < th1 - th0; ++lr) {
      const float* mt = m + co * tiles + lr * tilesW;
      int64_t oh = 2 * (th0 + lr);
      float* y0 = yPlane + oh * outW_;
      float* y1 = oh + 1 < outH_ ? y0 + outW_ : junkRow;
      outputTransformRow(mt, mStride, y0, y1, fullW);
      if (fullW < tilesW) {  // odd width: the last tile has one column
        float col0[2], col1[2];
        outputTransformRow(mt + fullW, mStride, col0, col1, 1);
        y0[2 * fullW] = col0[0];
        y1[2 * fullW] = col1[0];
      }
    }
    convEpilogue(yPlane + oh0 * outW_, z ? z + co * outPlane + oh0 * outW_ : nullptr, bias ? bias + co : nullptr, 1,
                 (oh1 - oh0) * outW_, outPlane, p_.activation);
  }
}

}  // namespace cleave

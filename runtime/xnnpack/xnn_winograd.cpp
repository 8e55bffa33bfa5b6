// 3x3 convolutions with unit stride through Winograd's F(2x2, 3x3) (Lavin & Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2016), channels-last, with XNNPACK doing the
// multiplications. Each 4x4 input tile becomes 16 transformed values per channel (V = B^T d B);
// for each of the 16 positions one matrix product with the filters transformed once at prepare
// (U = G g G^T) gives M; each 2x2 output tile comes back as A^T M A, with the bias, the residual
// and the activation's clamp applied on the way out. That is 16 multiply-adds per input channel
// for 4 outputs where the direct convolution needs 36: 2.25x fewer.
//
// With XNNPACK's GEMM the 16 products are one operator: a grouped 1x1 convolution with a group
// per position over "pixels" that are tiles, so they run packed and threaded like any XNNPACK
// GEMM. Where the BLAS is the faster GEMM (xnn_gemm.h) they are 16 BLAS products, split over the
// threads by position. Their input and output, [tiles][16][channels], live in the session's
// workspace; the transforms read and write them one tile at a time, which keeps each tile's 16
// values together.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "runtime/ops/conv.h"
#include "runtime/xnnpack/xnn_activation.h"
#include "runtime/xnnpack/xnn_gemm.h"
#include "runtime/xnnpack/xnn_support.h"
#include "runtime/xnnpack/xnn_winograd.h"

namespace cleave::xnn {
namespace {

constexpr int64_t TILE = 2;      // output pixels per tile side
constexpr int64_t PATCH = 4;     // input pixels per tile side
constexpr int64_t POSITIONS = 16;
// Below this many channels on either side the transforms cost more than the multiplications save.
constexpr int64_t WINOGRAD_MIN_CHANNELS = 16;

// U = G g G^T for every (output, input) channel pair, laid out [position][Cout][Cin], the
// kernel of a grouped 1x1 convolution with one group per position. `w` is ONNX's [Cout][Cin][3][3].
std::vector<float> transformedFilters(const float* w, int64_t outChannels, int64_t inChannels) {
  static constexpr float G[4][3] = {{1.0f, 0.0f, 0.0f}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0.0f, 0.0f, 1.0f}};
  std::vector<float> u(static_cast<size_t>(POSITIONS * outChannels * inChannels));
  for (int64_t o = 0; o < outChannels; ++o) {
    for (int64_t i = 0; i < inChannels; ++i) {
      const float* g = w + (o * inChannels + i) * 9;
      float gg[4][3];  // G g
      for (int r = 0; r < 4; ++r)
        for (int c = 0; c < 3; ++c) gg[r][c] = G[r][0] * g[c] + G[r][1] * g[3 + c] + G[r][2] * g[6 + c];
      for (int r = 0; r < 4; ++r)
        for (int s = 0; s < 4; ++s) {
          float value = gg[r][0] * G[s][0] + gg[r][1] * G[s][1] + gg[r][2] * G[s][2];
          u[static_cast<size_t>(((r * 4 + s) * outChannels + o) * inChannels + i)] = value;
        }
    }
  }
  return u;
}

struct Geometry {
  int64_t batch, height, width, inChannels, outChannels;
  int64_t padTop, padLeft, outHeight, outWidth, tilesH, tilesW;
  int64_t tiles() const { return batch * tilesH * tilesW; }
};

// V = B^T d B for tiles [begin, end), each tile's 16 x Cin values contiguous in `v`.
void transformInput(const Geometry& g, const float* x, const float* zeros, float* v, int64_t begin, int64_t end) {
  const int64_t c = g.inChannels, tilesPerImage = g.tilesH * g.tilesW;
  for (int64_t t = begin; t < end; ++t) {
    const int64_t n = t / tilesPerImage, th = t % tilesPerImage / g.tilesW, tw = t % g.tilesW;
    const float* d[POSITIONS];  // a pixel's channels, or zeros outside the image
    for (int64_t i = 0; i < PATCH; ++i) {
      const int64_t row = TILE * th - g.padTop + i;
      for (int64_t j = 0; j < PATCH; ++j) {
        const int64_t col = TILE * tw - g.padLeft + j;
        bool inside = row >= 0 && row < g.height && col >= 0 && col < g.width;
        d[i * PATCH + j] = inside ? x + ((n * g.height + row) * g.width + col) * c : zeros;
      }
    }
    float* out = v + t * POSITIONS * c;
#pragma GCC ivdep
    for (int64_t k = 0; k < c; ++k) {
      float rows[4][4];  // B^T d
      for (int j = 0; j < 4; ++j) {
        rows[0][j] = d[j][k] - d[8 + j][k];
        rows[1][j] = d[4 + j][k] + d[8 + j][k];
        rows[2][j] = d[8 + j][k] - d[4 + j][k];
        rows[3][j] = d[4 + j][k] - d[12 + j][k];
      }
      for (int i = 0; i < 4; ++i) {
        out[(i * 4 + 0) * c + k] = rows[i][0] - rows[i][2];
        out[(i * 4 + 1) * c + k] = rows[i][1] + rows[i][2];
        out[(i * 4 + 2) * c + k] = rows[i][2] - rows[i][1];
        out[(i * 4 + 3) * c + k] = rows[i][1] - rows[i][3];
      }
    }
  }
}

struct Epilogue {
  float* output;          // Y, channels-last
  const float* bias;      // Cout values (zeros when the node has none)
  const float* residual;  // FusedConv's Z, channels-last like the output, or null
  float min, max;         // the activation's clamp, (-inf, inf) for none
};

// A^T M A for channels [0, c) of one tile: out[p] for its four pixels, p = 2 * row + column.
// Written with no branch inside the loop over channels so that GCC vectorises it.
template <bool kResidual>
void outputTile(const float* in, int64_t c, const float* bias, const float* const* residual, float min, float max,
                float* const* out) {
  float* y0 = out[0];
  float* y1 = out[1];
  float* y2 = out[2];
  float* y3 = out[3];
#pragma GCC ivdep
  for (int64_t k = 0; k < c; ++k) {
    float s0[4], s1[4];  // A^T M
    for (int j = 0; j < 4; ++j) {
      s0[j] = in[j * c + k] + in[(4 + j) * c + k] + in[(8 + j) * c + k];
      s1[j] = in[(4 + j) * c + k] - in[(8 + j) * c + k] - in[(12 + j) * c + k];
    }
    float v0 = s0[0] + s0[1] + s0[2] + bias[k], v1 = s0[1] - s0[2] - s0[3] + bias[k];
    float v2 = s1[0] + s1[1] + s1[2] + bias[k], v3 = s1[1] - s1[2] - s1[3] + bias[k];
    if constexpr (kResidual) {
      v0 += residual[0][k];
      v1 += residual[1][k];
      v2 += residual[2][k];
      v3 += residual[3][k];
    }
    y0[k] = std::min(std::max(v0, min), max);
    y1[k] = std::min(std::max(v1, min), max);
    y2[k] = std::min(std::max(v2, min), max);
    y3[k] = std::min(std::max(v3, min), max);
  }
}

// The same for a tile past the bottom or right edge (odd output sizes): only its pixels inside
// the image are written. Scalar; there are few such tiles.
void outputEdgeTile(const float* in, int64_t c, const Epilogue& e, const int64_t* offset, const bool* inside) {
  for (int64_t k = 0; k < c; ++k) {
    float s0[4], s1[4];
    for (int j = 0; j < 4; ++j) {
      s0[j] = in[j * c + k] + in[(4 + j) * c + k] + in[(8 + j) * c + k];
      s1[j] = in[(4 + j) * c + k] - in[(8 + j) * c + k] - in[(12 + j) * c + k];
    }
    const float v[4] = {s0[0] + s0[1] + s0[2] + e.bias[k], s0[1] - s0[2] - s0[3] + e.bias[k],
                        s1[0] + s1[1] + s1[2] + e.bias[k], s1[1] - s1[2] - s1[3] + e.bias[k]};
    for (int p = 0; p < 4; ++p) {
      if (!inside[p]) continue;
      const float value = e.residual ? v[p] + e.residual[offset[p] + k] : v[p];
      e.output[offset[p] + k] = std::min(std::max(value, e.min), e.max);
    }
  }
}

// Y = A^T M A + bias (+ Z), clamped, for tiles [begin, end).
void transformOutput(const Geometry& g, const float* m, const Epilogue& e, int64_t begin, int64_t end) {
  const int64_t c = g.outChannels, tilesPerImage = g.tilesH * g.tilesW;
  for (int64_t t = begin; t < end; ++t) {
    const int64_t n = t / tilesPerImage, th = t % tilesPerImage / g.tilesW, tw = t % g.tilesW;
    int64_t offset[4];
    bool inside[4];
    for (int64_t i = 0; i < TILE; ++i)
      for (int64_t j = 0; j < TILE; ++j) {
        const int64_t row = TILE * th + i, col = TILE * tw + j, p = i * 2 + j;
        inside[p] = row < g.outHeight && col < g.outWidth;
        offset[p] = inside[p] ? ((n * g.outHeight + row) * g.outWidth + col) * c : 0;
      }
    const float* in = m + t * POSITIONS * c;
    if (!(inside[0] && inside[1] && inside[2] && inside[3])) {
      outputEdgeTile(in, c, e, offset, inside);
      continue;
    }
    float* out[4];
    const float* residual[4];
    for (int p = 0; p < 4; ++p) {
      out[p] = e.output + offset[p];
      residual[p] = e.residual ? e.residual + offset[p] : nullptr;
    }
    if (e.residual)
      outputTile<true>(in, c, e.bias, residual, e.min, e.max, out);
    else
      outputTile<false>(in, c, e.bias, residual, e.min, e.max, out);
  }
}

class WinogradNhwc final : public Kernel {
 public:
  WinogradNhwc(const Geometry& g, Operator gemm, std::vector<std::unique_ptr<ConstantGemm>> products,
               std::vector<float> bias, bool hasResidual, float min, float max,
               std::unique_ptr<InPlaceActivation> activation, int64_t heldBytes)
      : g_(g),
        hasResidual_(hasResidual),
        gemm_(std::move(gemm)),
        products_(std::move(products)),
        bias_(std::move(bias)),
        zeros_(static_cast<size_t>(g.inChannels), 0.0f),
        min_(min),
        max_(max),
        activation_(std::move(activation)),
        heldBytes_(heldBytes + static_cast<int64_t>((bias_.size() + zeros_.size()) * sizeof(float))) {}

  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    const float* x = inputs[0].data<float>();
    float* y = outputs[0].data<float>();
    float* v = reinterpret_cast<float*>(ctx.workspace.data());
    float* m = v + alignedFloatBytes(transformedInputFloats()) / static_cast<int64_t>(sizeof(float));
    // Tiles per chunk: enough work to pay for a hand-over, few enough to spread over the threads.
    constexpr int64_t MIN_TILES = 16;
    ctx.parallelFor(g_.tiles(), MIN_TILES,
                    [&](int64_t begin, int64_t end) { transformInput(g_, x, zeros_.data(), v, begin, end); });
    if (gemm_) {
      xnn_setup_convolution2d_nhwc_f32(gemm_.get(), 1, 1, static_cast<size_t>(g_.tiles()), v, m, ctx.xnnThreadpool);
      xnn_run_operator(gemm_.get(), ctx.xnnThreadpool);
    } else {
      ctx.parallelFor(POSITIONS, 1, [&](int64_t begin, int64_t end) {
        for (int64_t position = begin; position < end; ++position)
          products_[static_cast<size_t>(position)]->run(v + position * g_.inChannels, m + position * g_.outChannels,
                                                        g_.tiles());
      });
    }
    Epilogue epilogue{y, bias_.data(), hasResidual_ ? inputs[3].data<float>() : nullptr, min_, max_};
    ctx.parallelFor(g_.tiles(), MIN_TILES,
                    [&](int64_t begin, int64_t end) { transformOutput(g_, m, epilogue, begin, end); });
    if (activation_) activation_->run(y, ctx);
  }

  int64_t heldBytes() const override { return heldBytes_; }
  int64_t workspaceBytes(int) const override {
    return alignedFloatBytes(transformedInputFloats()) + alignedFloatBytes(g_.tiles() * POSITIONS * g_.outChannels);
  }

 private:
  int64_t transformedInputFloats() const { return g_.tiles() * POSITIONS * g_.inChannels; }

  Geometry g_;
  bool hasResidual_;
  Operator gemm_;                                         // XNNPACK: all 16 products
  std::vector<std::unique_ptr<ConstantGemm>> products_;  // BLAS: one per position
  std::vector<float> bias_;  // zeros when the node has none
  std::vector<float> zeros_;  // the channels of a pixel outside the image
  float min_, max_;
  std::unique_ptr<InPlaceActivation> activation_;
  int64_t heldBytes_;
};

}  // namespace

bool winogradCovers(const ConvParams& p) {
  auto is = [](const std::vector<int64_t>& v, int64_t value) {
    return std::all_of(v.begin(), v.end(), [&](int64_t x) { return x == value; });
  };
  return p.spatialRank == 2 && p.group == 1 && is(p.kernel, 3) && is(p.strides, 1) && is(p.dilations, 1) &&
         p.inChannels >= WINOGRAD_MIN_CHANNELS && p.outChannels >= WINOGRAD_MIN_CHANNELS;
}

std::unique_ptr<Kernel> winogradConvolutionNhwc(const NodeContext& ctx, const ConvParams& p) {
  const Tensor* w = ctx.constant(1);
  const Tensor* b = ctx.hasInput(2) ? ctx.constant(2) : nullptr;
  if (!w || (ctx.hasInput(2) && !b) || !winogradCovers(p)) return nullptr;
  Geometry g{p.batch,         p.inputSpatial[0], p.inputSpatial[1], p.inChannels, p.outChannels, p.padsBegin[0],
             p.padsBegin[1],  p.outputShape[2],  p.outputShape[3],  0,            0};
  g.tilesH = (g.outHeight + TILE - 1) / TILE;
  g.tilesW = (g.outWidth + TILE - 1) / TILE;

  std::vector<float> u = transformedFilters(w->data<float>(), p.outChannels, p.inChannels);
  MemoryMeter held;
  const auto cin = static_cast<size_t>(p.inChannels), cout = static_cast<size_t>(p.outChannels);
  Operator gemmOp;
  std::vector<std::unique_ptr<ConstantGemm>> products;
  int64_t productBytes = 0;
  if (gemmOnBlas()) {
    for (int64_t position = 0; position < POSITIONS; ++position) {
      products.push_back(std::make_unique<ConstantGemm>(u.data() + position * p.outChannels * p.inChannels,
                                                        p.outChannels, p.inChannels, POSITIONS * p.inChannels,
                                                        POSITIONS * p.outChannels));
      productBytes += products.back()->heldBytes();
    }
  } else {
    const float inf = std::numeric_limits<float>::infinity();
    xnn_operator_t gemm = nullptr;
    xnn_status status = xnn_create_convolution2d_nhwc_f32(0, 0, 0, 0, 1, 1, 1, 1, 1, 1, POSITIONS, cin, cout,
                                                          POSITIONS * cin, POSITIONS * cout, u.data(), nullptr,
                                                          -inf, inf, 0, &gemm);
    if (status != xnn_status_success) return nullptr;
    gemmOp.reset(gemm);
  }
  auto activation = InPlaceActivation::create(p.activation, shapeNumel(p.outputShape));
  std::vector<float> bias(static_cast<size_t>(p.outChannels), 0.0f);
  if (b) bias.assign(b->data<float>(), b->data<float>() + p.outChannels);
  return std::make_unique<WinogradNhwc>(g, std::move(gemmOp), std::move(products), std::move(bias), ctx.hasInput(3),
                                        clampMin(p.activation), clampMax(p.activation), std::move(activation),
                                        held.bytes() + productBytes);
}

}  // namespace cleave::xnn

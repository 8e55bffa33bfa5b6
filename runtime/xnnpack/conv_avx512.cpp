// Convolutions on AVX-512 as our own matrix product over channels-last pixels. Debian's XNNPACK
// (2022) has one AVX-512 f32 GEMM micro-kernel, 7 rows x 16 columns: seven accumulators, fewer
// than the two FMA pipes times their latency need, and a broadcast load per multiply-add. It
// ran 1x1 layers at 60-75 GMAC/s on a Zen 5 core, where ONNX Runtime's MLAS reaches ~100
// (squeezenet's 512 -> 1000 classifier: 1.17 against 0.85 ms), and its convolutions with few
// input channels no faster (resnet18's 7x7 stem: 1.9 against 1.2 ms). This one keeps 12 rows x
// 32 columns of output in 24 registers, so each weight load feeds 12 multiply-adds and each
// broadcast two.
//
// A row of the product is an output pixel, its depth the pixel's taps: [kh][kw][channel], the
// order of a channels-last image. Along one kernel row those are contiguous in the image, so a
// pixel whose taps are all inside reads them in place: the kernel walks KH segments of KW x Cin
// floats, and the pixels of one output row are `stride x Cin` floats apart. Pixels whose taps
// cross the image's left or right edge are first copied, zeros outside, into the workspace.
// A 1x1 layer is the case of one segment over the whole image.
//
// Weights are packed once into panels of 32 output channels, [panel][k][32] (zero past the last
// channel). Every output is one sum over k in order, whatever the split: the same bits on any
// number of threads.
#include "runtime/xnnpack/conv_avx512.h"

#ifdef __AVX512F__

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "runtime/x86_intrinsics.h"

#include "runtime/xnnpack/xnn_activation.h"

namespace cleave::xnn {
namespace {

constexpr int64_t PANEL = 32;  // output channels per packed panel: two vectors

// Where a block of rows reads A: `segments` runs of `segmentLength` floats, the run s at
// a + s * segmentStride for the block's first row, each next row `lda` further on.
struct Source {
  const float* a;
  int64_t lda;
  int64_t segments, segmentStride, segmentLength;
};

struct Epilogue {
  const float* bias;      // this panel's 32 values
  const float* residual;  // Z at the block's first pixel and the panel's first channel, or null
  int64_t ldz;
  float min, max;
  __mmask16 mask0, mask1;  // the panel's channels that exist
};

// C[R][16 V] = A[R][K] * panel[K][16 V] + bias (+ Z), clamped; `panel` starts at the first
// segment's weights. V = 1 for a last panel of 16 channels or fewer (the second vector would
// multiply zeros).
template <int R, int V>
void microKernel(const Source& s, const float* panel, float* c, int64_t ldc, const Epilogue& e) {
  __m512 acc[R][V];
  const __mmask16 masks[2] = {e.mask0, e.mask1};
  for (int v = 0; v < V; ++v) {
    const __m512 bias = _mm512_loadu_ps(e.bias + 16 * v);
    for (int r = 0; r < R; ++r) acc[r][v] = bias;
  }
  const int64_t lda = s.lda;
  for (int64_t segment = 0; segment < s.segments; ++segment) {
    const float* a = s.a + segment * s.segmentStride;
    for (int64_t k = 0; k < s.segmentLength; ++k, panel += PANEL) {
      __m512 b[V];
      for (int v = 0; v < V; ++v) b[v] = _mm512_loadu_ps(panel + 16 * v);
      for (int r = 0; r < R; ++r) {
        const __m512 x = _mm512_set1_ps(a[r * lda + k]);
        for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
      }
    }
  }
  const __m512 lo = _mm512_set1_ps(e.min), hi = _mm512_set1_ps(e.max);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      __m512 value = acc[r][v];
      if (e.residual) value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(masks[v], e.residual + r * e.ldz + 16 * v));
      _mm512_mask_storeu_ps(c + r * ldc + 16 * v, masks[v], _mm512_min_ps(_mm512_max_ps(value, lo), hi));
    }
}

// Rows per call: as many as the 32 vector registers hold accumulators for, with room for the
// weights and the broadcast.
template <int V>
constexpr int ROWS = V == 2 ? 12 : 24;
constexpr int MAX_ROWS = ROWS<1>;

template <int R, int V>
void rowsKernel(int rows, const Source& s, const float* panel, float* c, int64_t ldc, const Epilogue& e) {
  if constexpr (R > 0) {
    if (rows == R) return microKernel<R, V>(s, panel, c, ldc, e);
    rowsKernel<R - 1, V>(rows, s, panel, c, ldc, e);
  }
}

struct Geometry {
  int64_t batch, height, width, inChannels, outChannels, outHeight, outWidth;
  int64_t kernelH, kernelW, strideH, strideW, padTop, padLeft;
  int64_t depth() const { return kernelH * kernelW * inChannels; }
  bool pointwise() const {
    return kernelH == 1 && kernelW == 1 && strideH == 1 && strideW == 1 && padTop == 0 && padLeft == 0;
  }
};

class ConvAvx512 final : public Kernel {
 public:
  ConvAvx512(const Geometry& g, const float* w, const float* b, bool hasResidual, float min, float max,
             std::unique_ptr<InPlaceActivation> activation)
      : g_(g),
        panels_((g.outChannels + PANEL - 1) / PANEL),
        packed_(static_cast<size_t>(panels_ * g.depth() * PANEL), 0.0f),
        bias_(static_cast<size_t>(panels_ * PANEL), 0.0f),
        hasResidual_(hasResidual),
        min_(min),
        max_(max),
        activation_(std::move(activation)) {
    // ONNX's W is [Cout][Cin][kh][kw]; k runs [kh][kw][Cin].
    const int64_t depth = g.depth(), taps = g.kernelH * g.kernelW;
    for (int64_t o = 0; o < g.outChannels; ++o) {
      float* column = packed_.data() + (o / PANEL) * depth * PANEL + o % PANEL;
      for (int64_t ci = 0; ci < g.inChannels; ++ci)
        for (int64_t t = 0; t < taps; ++t) column[(t * g.inChannels + ci) * PANEL] = w[(o * g.inChannels + ci) * taps + t];
      if (b) bias_[static_cast<size_t>(o)] = b[o];
    }
  }

  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    const float* x = inputs[0].data<float>();
    const float* z = hasResidual_ ? inputs[3].data<float>() : nullptr;
    float* y = outputs[0].data<float>();
    if (g_.pointwise()) {
      // The image is one matrix: a thread takes whole panels and walks all pixels through
      // each, so the panel it reads stays in L2.
      ctx.parallelFor(panels_, 1, [&](int64_t first, int64_t end) {
        for (int64_t panel = first; panel < end; ++panel) {
          const int64_t pixels = g_.batch * g_.outHeight * g_.outWidth;
          runPixels({x, g_.inChannels, 1, 0, g_.inChannels}, 0, pixels, panel, y, z);
        }
      });
    } else {
      // One output row of one panel per item; the panels of a row share its input rows.
      const int64_t rows = g_.batch * g_.outHeight;
      ctx.parallelChunks(rows * panels_, 1, [&](int64_t chunk, int64_t first, int64_t end) {
        float* patches = ctx.workspaceFloats(chunk, patchBytes());
        for (int64_t item = first; item < end; ++item) outputRow(x, z, y, item / panels_, item % panels_, patches);
      });
    }
    if (activation_) activation_->run(y, ctx);
  }

  int64_t heldBytes() const override {
    return static_cast<int64_t>((packed_.size() + bias_.size()) * sizeof(float)) +
           (activation_ ? activation_->heldBytes() : 0);
  }

  int64_t workspaceBytes(int threads) const override { return g_.pointwise() ? 0 : threads * patchBytes(); }

 private:
  // Copies of the taps of up to MAX_ROWS pixels at an edge.
  int64_t patchBytes() const { return alignedFloatBytes(MAX_ROWS * g_.depth()); }

  Epilogue epilogue(int64_t panel, const float* z) const {
    const int64_t column = panel * PANEL, width = std::min(PANEL, g_.outChannels - column);
    return {bias_.data() + column,
            z ? z + column : nullptr,
            g_.outChannels,
            min_,
            max_,
            static_cast<__mmask16>(width >= 16 ? 0xFFFF : (1u << width) - 1),
            static_cast<__mmask16>(width >= 32 ? 0xFFFF : width <= 16 ? 0 : (1u << (width - 16)) - 1)};
  }

  // `pixels` consecutive output pixels from the one `y` and `z` point at, through `panel`, read
  // through `s`; its first segment meets the weights from depth `firstK`.
  void runPixels(const Source& s, int64_t firstK, int64_t pixels, int64_t panel, float* y, const float* z) const {
    Epilogue e = epilogue(panel, z);
    const float* weights = packed_.data() + (panel * g_.depth() + firstK) * PANEL;
    const float* residual = e.residual;
    float* c = y + panel * PANEL;
    auto blocks = [&](auto vectors) {
      constexpr int V = decltype(vectors)::value;
      for (int64_t row = 0; row < pixels; row += ROWS<V>) {
        const int rows = static_cast<int>(std::min<int64_t>(ROWS<V>, pixels - row));
        if (residual) e.residual = residual + row * g_.outChannels;
        Source block = s;
        block.a += row * s.lda;
        rowsKernel<ROWS<V>, V>(rows, block, weights, c + row * g_.outChannels, g_.outChannels, e);
      }
    };
    if (g_.outChannels - panel * PANEL > 16)
      blocks(std::integral_constant<int, 2>{});
    else
      blocks(std::integral_constant<int, 1>{});
  }

  // Output row `row` (batch item and output line) through `panel`.
  void outputRow(const float* x, const float* z, float* y, int64_t row, int64_t panel, float* patches) const {
    const int64_t n = row / g_.outHeight, oh = row % g_.outHeight;
    const int64_t ihStart = oh * g_.strideH - g_.padTop;
    const int64_t khBegin = std::max<int64_t>(0, -ihStart), khEnd = std::min(g_.kernelH, g_.height - ihStart);
    const float* image = x + n * g_.height * g_.width * g_.inChannels;
    const int64_t firstPixel = row * g_.outWidth;
    float* yRow = y + firstPixel * g_.outChannels;
    const float* zRow = z ? z + firstPixel * g_.outChannels : nullptr;
    const int64_t segmentLength = g_.kernelW * g_.inChannels;

    // Output columns whose taps all fall inside the image horizontally read in place, the
    // kernel rows outside the image left out; the others from copies.
    const int64_t firstInner = std::min(g_.outWidth, (g_.padLeft + g_.strideW - 1) / g_.strideW);
    const int64_t lastInner =
        std::max(firstInner, std::min(g_.outWidth, (g_.width + g_.padLeft - g_.kernelW) / g_.strideW + 1));
    auto copied = [&](int64_t ow, int64_t count) {
      for (int64_t begin = ow; begin < ow + count; begin += MAX_ROWS) {
        const int64_t pixels = std::min<int64_t>(MAX_ROWS, ow + count - begin);
        for (int64_t p = 0; p < pixels; ++p) copyTaps(image, ihStart, (begin + p) * g_.strideW - g_.padLeft,
                                                        patches + p * g_.depth());
        runPixels({patches, g_.depth(), 1, 0, g_.depth()}, 0, pixels, panel, yRow + begin * g_.outChannels,
                  zRow ? zRow + begin * g_.outChannels : nullptr);
      }
    };
    copied(0, firstInner);
    if (lastInner > firstInner && khEnd > khBegin) {
      const float* a = image + ((ihStart + khBegin) * g_.width + firstInner * g_.strideW - g_.padLeft) * g_.inChannels;
      runPixels({a, g_.strideW * g_.inChannels, khEnd - khBegin, g_.width * g_.inChannels, segmentLength},
                khBegin * segmentLength, lastInner - firstInner, panel, yRow + firstInner * g_.outChannels,
                zRow ? zRow + firstInner * g_.outChannels : nullptr);
    } else {
      copied(firstInner, lastInner - firstInner);  // no kernel row inside: the bias alone
    }
    copied(lastInner, g_.outWidth - lastInner);
  }

  // The taps of the output pixel whose kernel's top-left corner is at (ih, iw), zeros outside.
  void copyTaps(const float* image, int64_t ih, int64_t iw, float* out) const {
    const int64_t c = g_.inChannels;
    for (int64_t kh = 0; kh < g_.kernelH; ++kh)
      for (int64_t kw = 0; kw < g_.kernelW; ++kw, out += c) {
        const int64_t h = ih + kh, w = iw + kw;
        if (h < 0 || h >= g_.height || w < 0 || w >= g_.width)
          std::memset(out, 0, static_cast<size_t>(c) * sizeof(float));
        else
          std::memcpy(out, image + (h * g_.width + w) * c, static_cast<size_t>(c) * sizeof(float));
      }
  }

  Geometry g_;
  int64_t panels_;
  std::vector<float> packed_;  // [panel][k][32]
  std::vector<float> bias_;    // padded to whole panels, zeros where the node has none
  bool hasResidual_;
  float min_, max_;
  std::unique_ptr<InPlaceActivation> activation_;  // an activation the clamp cannot carry
};

}  // namespace

bool convAvx512Covers(const ConvParams& p) {
  if (p.spatialRank != 2 || p.group != 1 || p.dilations[0] != 1 || p.dilations[1] != 1) return false;
  // 1x1: below 32 channels on either side XNNPACK's kernel measured faster (squeezenet's
  // 16-channel squeeze and expand layers on 55x55: 0.043-0.045 ms against 0.060-0.068 for ours):
  // too few multiply-adds per call to pay for the 24-register tile's loads and stores.
  constexpr int64_t MIN_POINTWISE_CHANNELS = 32;
  if (p.isPointwise()) return p.inChannels >= MIN_POINTWISE_CHANNELS && p.outChannels >= MIN_POINTWISE_CHANNELS;
  // Larger kernels with few input channels, where the taps of a kernel row are a long run in
  // the image (Winograd takes 3x3 stride 1 from 16 channels first). Single layers, one thread,
  // Zen 5 (ours vs before, ms): 7x7/2 3->64@224 1.37 vs 1.86 (XNNPACK), 3x3/2 3->32@224 0.155 vs
  // 0.175, 3x3 8->32@112 0.343 vs 0.379; but 3x3 24->64@56 0.48 vs 0.38 (Winograd): from some
  // 16-32 channels the in-place reads no longer beat the packed paths.
  constexpr int64_t MAX_DIRECT_CHANNELS = 32;
  return p.inChannels < MAX_DIRECT_CHANNELS;
}

std::unique_ptr<Kernel> convAvx512(const NodeContext& ctx, const ConvParams& p) {
  const Tensor* w = ctx.constant(1);
  const Tensor* b = ctx.hasInput(2) ? ctx.constant(2) : nullptr;
  if (!w || (ctx.hasInput(2) && !b) || !convAvx512Covers(p)) return nullptr;
  Geometry g{p.batch,          p.inputSpatial[0], p.inputSpatial[1], p.inChannels,  p.outChannels,
             p.outputShape[2], p.outputShape[3],  p.kernel[0],       p.kernel[1],   p.strides[0],
             p.strides[1],     p.padsBegin[0],    p.padsBegin[1]};
  return std::make_unique<ConvAvx512>(g, w->data<float>(), b ? b->data<float>() : nullptr, ctx.hasInput(3),
                                      clampMin(p.activation), clampMax(p.activation),
                                      InPlaceActivation::create(p.activation, shapeNumel(p.outputShape)));
}

}  // namespace cleave::xnn

#else

namespace cleave::xnn {
bool convAvx512Covers(const ConvParams&) { return false; }
std::unique_ptr<Kernel> convAvx512(const NodeContext&, const ConvParams&) { return nullptr; }
}  // namespace cleave::xnn

#endif

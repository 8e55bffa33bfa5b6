// Depthwise convolution on channels-last activations, ours beside XNNPACK's. XNNPACK's depthwise
// micro-kernels (up16x9, up16x25 in Debian's 2022 build) compute one output pixel at a time:
// every multiply-add loads a weight vector and an input vector, and a pixel's 25 taps of a 5x5
// kernel form one dependent chain. On a Zen 5 core that ran 5x5 layers at 14-16 GMAC/s
// (efficientnet_b0's 672-channel 14x14 layer: 0.21 ms, ONNX Runtime 0.11 ms). This kernel
// computes up to 8 output pixels of a row together with a kernel row's taps held in registers,
// so each input vector loaded feeds every accumulator it reaches, and runs the pixels at the
// image's left and right edges the same way (0.07-0.09 ms on that layer).
// depthwisePreferred says where each kernel runs.
//
// Vectors are GCC's generic vector extension, so the same code becomes AVX-512, AVX2 or NEON.
#include "runtime/xnnpack/depthwise_nhwc.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "runtime/xnnpack/xnn_activation.h"

namespace cleave::xnn {
namespace {

// Channels per vector: a whole register where the target has wide ones, and narrower vectors
// for the channels left over.
#ifdef __AVX512F__
constexpr int WIDEST = 16;
#else
constexpr int WIDEST = 8;  // AVX2's ymm; two NEON q registers
#endif
// Output pixels computed together: each input vector loaded feeds every one of them it
// reaches, each weight vector stays in a register for the whole row of taps.
constexpr int64_t PIXELS = 8;

// (GCC ignores vector_size on a dependent type, so each width is spelled out.)
typedef float Vec16 __attribute__((vector_size(64), aligned(4)));
typedef float Vec8 __attribute__((vector_size(32), aligned(4)));
typedef float Vec4 __attribute__((vector_size(16), aligned(4)));
template <int W>
struct VecOf;
template <>
struct VecOf<16> {
  using type = Vec16;
};
template <>
struct VecOf<8> {
  using type = Vec8;
};
template <>
struct VecOf<4> {
  using type = Vec4;
};
template <int W>
using Vec = typename VecOf<W>::type;
static_assert(sizeof(Vec<16>) == 64 && sizeof(Vec<4>) == 16);

template <int W>
inline Vec<W> load(const float* p) {
  Vec<W> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <int W>
inline void store(float* p, Vec<W> v) {
  std::memcpy(p, &v, sizeof(v));
}
template <int W>
inline Vec<W> clamp(Vec<W> v, float lo, float hi) {
  const Vec<W> low = Vec<W>{} + lo, high = Vec<W>{} + hi;
  v = v < low ? low : v;
  return v > high ? high : v;
}

struct Geometry {
  int64_t batch, height, width, channels, outHeight, outWidth;
  int64_t kernelH, kernelW, strideH, strideW, padTop, padLeft;
};

template <int N>
using Width = std::integral_constant<int, N>;

// Calls f(Width<W>{}, ch) over vectors covering channels [0, C), C >= 4: the widest vectors
// that fit, the last one moved back to end at C (it recomputes a few channels the one before
// wrote, to the same values) rather than a scalar tail.
template <class F>
void forEachVector(int64_t c, F&& f) {
  auto cover = [&](auto width) {
    constexpr int W = decltype(width)::value;
    int64_t ch = 0;
    for (; ch + W <= c; ch += W) f(width, ch);
    if (ch < c) f(width, c - W);
  };
  if (c >= WIDEST)
    cover(Width<WIDEST>{});
  else if (c >= 8)
    cover(Width<8>{});
  else
    cover(Width<4>{});
}

class DepthwiseNhwc final : public Kernel {
 public:
  DepthwiseNhwc(const Geometry& g, std::vector<float> weights, std::vector<float> bias, float min, float max,
                std::unique_ptr<InPlaceActivation> activation)
      : g_(g),
        weights_(std::move(weights)),
        bias_(std::move(bias)),
        min_(min),
        max_(max),
        activation_(std::move(activation)) {
    // Output columns whose taps all fall inside the image horizontally.
    firstInner_ = std::min(g.outWidth, (g.padLeft + g.strideW - 1) / g.strideW);
    lastInner_ = std::max(firstInner_, std::min(g.outWidth, (g.width + g.padLeft - g.kernelW) / g.strideW + 1));
  }

  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    const float* x = inputs[0].data<float>();
    float* y = outputs[0].data<float>();
    ctx.parallelFor(g_.batch * g_.outHeight, 1, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) outputRow(x, y, row / g_.outHeight, row % g_.outHeight);
    });
    if (activation_) activation_->run(y, ctx);
  }

  int64_t heldBytes() const override {
    return static_cast<int64_t>((weights_.size() + bias_.size()) * sizeof(float)) +
           (activation_ ? activation_->heldBytes() : 0);
  }

 private:
  // What the pixels of one output row share.
  struct Row {
    const float* image;  // the batch item's input
    float* out;          // the output row
    int64_t ihStart;     // input row under kernel row 0
    int64_t khBegin, khEnd;  // the kernel rows inside the image
  };

  void outputRow(const float* x, float* y, int64_t n, int64_t oh) const {
    Row row;
    row.image = x + n * g_.height * g_.width * g_.channels;
    row.out = y + (n * g_.outHeight + oh) * g_.outWidth * g_.channels;
    row.ihStart = oh * g_.strideH - g_.padTop;
    row.khBegin = std::max<int64_t>(0, -row.ihStart);
    row.khEnd = std::min(g_.kernelH, g_.height - row.ihStart);
    switch (g_.kernelW * 10 + g_.strideW) {
      case 31: return pixelsOfRow<3, 1>(row);
      case 32: return pixelsOfRow<3, 2>(row);
      case 51: return pixelsOfRow<5, 1>(row);
      case 52: return pixelsOfRow<5, 2>(row);
      default: return pixelsOfRow<0, 0>(row);
    }
  }

  // K and S are the kernel width and the stride when known at compile time (0: read them from
  // the geometry at run time).
  template <int K, int S>
  void pixelsOfRow(const Row& row) const {
    if constexpr (K != 0 && S != 0) {
      // Groups of P pixels across the whole row, the last moved back to end at the row's end
      // (it recomputes a few pixels, to the same values). A group that reaches past the image's
      // left or right side skips the columns outside: edge pixels run as fast as inner ones,
      // which matters on small images (a 7-wide row has 3 inner pixels of a 5x5 kernel).
      const int64_t width = g_.outWidth;
      if (width < 4) {
        for (int64_t ow = 0; ow < width; ++ow) edgePixel(row, ow);
        return;
      }
      auto groups = [&](auto pixels) {
        constexpr int P = decltype(pixels)::value;
        for (int64_t ow = 0;; ow += P) {
          const int64_t start = std::min(ow, width - P);
          if (start < firstInner_ || start + P > lastInner_)
            rowGroup<P, K, S, true>(row, start);
          else
            rowGroup<P, K, S, false>(row, start);
          if (start + P >= width) break;
        }
      };
      if (width >= PIXELS)
        groups(Width<PIXELS>{});
      else
        groups(Width<4>{});
    } else {
      int64_t ow = 0;
      for (; ow < firstInner_; ++ow) edgePixel(row, ow);
      for (; ow + PIXELS <= lastInner_; ow += PIXELS) rowGroup<PIXELS, K, S, false>(row, ow);
      for (; ow + 4 <= lastInner_; ow += 4) rowGroup<4, K, S, false>(row, ow);
      for (; ow < lastInner_; ++ow) rowGroup<1, K, S, false>(row, ow);
      for (; ow < g_.outWidth; ++ow) edgePixel(row, ow);
    }
  }

  // P neighbouring output pixels from `ow`; Edge when some of their taps fall outside the image
  // horizontally (only with K and S known).
  template <int P, int K, int S, bool Edge>
  void rowGroup(const Row& row, int64_t ow) const {
    forEachVector(g_.channels, [&](auto width, int64_t ch) {
      innerVector<decltype(width)::value, P, K, S, Edge>(row, ow, ch);
    });
  }

  // Channels [ch, ch + W) of those P pixels.
  template <int W, int P, int K, int S, bool Edge>
  void innerVector(const Row& row, int64_t ow, int64_t ch) const {
    const int64_t c = g_.channels;
    const int64_t kw = K ? K : g_.kernelW, stride = S ? S : g_.strideW;
    const int64_t firstColumnIndex = ow * stride - g_.padLeft;
    // Input column `i` of the pixels' span in kernel row `kh`.
    auto column = [&](int64_t kh, int64_t i) {
      return row.image + ((row.ihStart + kh) * g_.width + firstColumnIndex + i) * c + ch;
    };
    // The span's columns inside the image (all of them unless Edge).
    const int64_t insideBegin = Edge ? std::max<int64_t>(0, -firstColumnIndex) : 0;
    const int64_t insideEnd = Edge ? g_.width - firstColumnIndex : 0;
    Vec<W> acc[P];
    const Vec<W> bias = load<W>(bias_.data() + ch);
    for (int p = 0; p < P; ++p) acc[p] = bias;
    for (int64_t kh = row.khBegin; kh < row.khEnd; ++kh) {
      const float* w = weights_.data() + kh * kw * c + ch;
      if constexpr (K != 0 && S != 0) {
        // The kernel row's taps stay in registers; input column i reaches output p through
        // tap i - p * S, so each column is loaded once.
        Vec<W> weight[K];
#pragma GCC unroll 8
        for (int k = 0; k < K; ++k) weight[k] = load<W>(w + k * c);
#pragma GCC unroll 32
        for (int i = 0; i < (P - 1) * S + K; ++i) {
          if (Edge && (i < insideBegin || i >= insideEnd)) continue;
          const Vec<W> x = load<W>(column(kh, i));
#pragma GCC unroll 8
          for (int p = 0; p < P; ++p) {
            const int k = i - p * S;
            if (k >= 0 && k < K) acc[p] += x * weight[k];
          }
        }
      } else {
        static_assert(!Edge);
        for (int64_t k = 0; k < kw; ++k) {
          const Vec<W> weight = load<W>(w + k * c);
          for (int p = 0; p < P; ++p) acc[p] += load<W>(column(kh, p * stride + k)) * weight;
        }
      }
    }
    for (int p = 0; p < P; ++p) store<W>(row.out + (ow + p) * c + ch, clamp<W>(acc[p], min_, max_));
  }

  // One output pixel whose taps may fall outside the image on the left or right: only its
  // taps inside are summed. Few pixels are on an edge.
  void edgePixel(const Row& row, int64_t ow) const {
    const int64_t c = g_.channels;
    const int64_t iwStart = ow * g_.strideW - g_.padLeft;
    const int64_t kwBegin = std::max<int64_t>(0, -iwStart), kwEnd = std::min(g_.kernelW, g_.width - iwStart);
    forEachVector(c, [&](auto width, int64_t ch) {
      constexpr int W = decltype(width)::value;
      Vec<W> acc = load<W>(bias_.data() + ch);
      for (int64_t kh = row.khBegin; kh < row.khEnd; ++kh)
        for (int64_t k = kwBegin; k < kwEnd; ++k)
          acc += load<W>(row.image + ((row.ihStart + kh) * g_.width + iwStart + k) * c + ch) *
                 load<W>(weights_.data() + (kh * g_.kernelW + k) * c + ch);
      store<W>(row.out + ow * c + ch, clamp<W>(acc, min_, max_));
    });
  }

  Geometry g_;
  std::vector<float> weights_;  // [kh][kw][C]: a tap's channels contiguous, as the pixels' are
  std::vector<float> bias_;     // C values, zeros when the node has none
  float min_, max_;             // the activation's clamp
  std::unique_ptr<InPlaceActivation> activation_;  // any activation the clamp cannot carry
  int64_t firstInner_ = 0, lastInner_ = 0;
};

}  // namespace

bool depthwiseCovers(const ConvParams& p) {
  return p.spatialRank == 2 && p.group == p.inChannels && p.outChannels == p.inChannels && p.inChannels >= 4 &&
         p.dilations[0] == 1 && p.dilations[1] == 1 && p.kernelSize() >= 9;
}

bool depthwisePreferred(const ConvParams& p) {
  // Single layers, one thread, Zen 5 (ours vs XNNPACK, ms, medians of 7 interleaved rounds):
  // 5x5 672@14 0.076 vs 0.226, 1152@7 0.036 vs 0.084, 240@28/2 0.037 vs 0.050; 3x3 32@112 0.110
  // vs 0.245, 96@112/2 0.130 vs 0.222, 72@56/2 0.026 vs 0.035, 144@56 0.122 vs 0.147; with
  // more channels the two are level within noise (240@28 0.051 vs 0.050, 576@14 0.032 vs
  // 0.031) or XNNPACK is ahead (384@14 0.027 vs 0.019): its one-pixel kernel pays a fixed cost
  // per pixel that many channels amortise.
  constexpr int64_t MAX_CHANNELS_3X3 = 144;
  return depthwiseCovers(p) && (p.kernelSize() > 9 || p.inChannels <= MAX_CHANNELS_3X3);
}

std::unique_ptr<Kernel> depthwiseConvolutionNhwc(const NodeContext& ctx, const ConvParams& p) {
  const Tensor* w = ctx.constant(1);
  const Tensor* b = ctx.hasInput(2) ? ctx.constant(2) : nullptr;
  if (!w || (ctx.hasInput(2) && !b) || ctx.hasInput(3) || !depthwiseCovers(p)) return nullptr;
  const int64_t c = p.inChannels, taps = p.kernelSize();
  // ONNX's [C][1][kh][kw] to [kh][kw][C].
  std::vector<float> weights(static_cast<size_t>(taps * c));
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t t = 0; t < taps; ++t) weights[static_cast<size_t>(t * c + ch)] = w->data<float>()[ch * taps + t];
  std::vector<float> bias(static_cast<size_t>(c), 0.0f);
  if (b) std::copy(b->data<float>(), b->data<float>() + c, bias.begin());
  Geometry g{p.batch,          p.inputSpatial[0], p.inputSpatial[1], c,
             p.outputShape[2], p.outputShape[3],  p.kernel[0],       p.kernel[1],
             p.strides[0],     p.strides[1],      p.padsBegin[0],    p.padsBegin[1]};
  return std::make_unique<DepthwiseNhwc>(g, std::move(weights), std::move(bias), clampMin(p.activation),
                                         clampMax(p.activation),
                                         InPlaceActivation::create(p.activation, shapeNumel(p.outputShape)));
}

}  // namespace cleave::xnn

// 1x1 convolutions on AVX-512 as our own matrix product over channels-last pixels. Debian's
// XNNPACK (2022) has one AVX-512 f32 GEMM micro-kernel, 7 rows x 16 columns: seven
// accumulators, fewer than the two FMA pipes times their latency need, and a broadcast load per
// multiply-add. It ran 1x1 layers at 60-75 GMAC/s on a Zen 5 core, where ONNX Runtime's MLAS
// reaches ~100 (squeezenet's 512 -> 1000 classifier: 1.17 against 0.85 ms). This one keeps
// 12 rows x 32 columns of output in 24 registers, so each weight load feeds 12 multiply-adds
// and each broadcast two (the classifier: 0.96 ms; whole networks 5-12% faster on one thread).
//
// Weights are packed once into panels of 32 output channels, [panel][k][32] (zero past the last
// channel); a thread takes whole panels and walks all pixels through each, so the panel it reads
// stays in L2. Every output is one sum over k in order, whatever the split: the same bits on any
// number of threads.
#include "runtime/xnnpack/pointwise_avx512.h"

#ifdef __AVX512F__

#include <algorithm>
#include <limits>
#include <vector>

#include "runtime/x86_intrinsics.h"

#include "runtime/xnnpack/xnn_activation.h"

namespace cleave::xnn {
namespace {

constexpr int64_t PANEL = 32;  // output channels per packed panel: two vectors

struct Epilogue {
  const float* bias;      // this panel's 32 values
  const float* residual;  // Z at the block's first pixel and the panel's first channel, or null
  int64_t ldz;
  float min, max;
  __mmask16 mask0, mask1;  // the panel's channels that exist
};

// C[R][16 V] = A[R][K] * panel[K][16 V] + bias (+ Z), clamped. A's rows are `lda` apart; V = 1
// for a last panel of 16 channels or fewer (the second vector would multiply zeros).
template <int R, int V>
void microKernel(const float* a, int64_t lda, const float* panel, int64_t depth, float* c, int64_t ldc,
                 const Epilogue& e) {
  __m512 acc[R][V];
  const __mmask16 masks[2] = {e.mask0, e.mask1};
  for (int v = 0; v < V; ++v) {
    const __m512 bias = _mm512_loadu_ps(e.bias + 16 * v);
    for (int r = 0; r < R; ++r) acc[r][v] = bias;
  }
  for (int64_t k = 0; k < depth; ++k) {
    __m512 b[V];
    for (int v = 0; v < V; ++v) b[v] = _mm512_loadu_ps(panel + k * PANEL + 16 * v);
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(a[r * lda + k]);
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
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

template <int R, int V>
void tailKernel(int rows, const float* a, int64_t lda, const float* panel, int64_t depth, float* c, int64_t ldc,
                const Epilogue& e) {
  if constexpr (R > 0) {
    if (rows == R) return microKernel<R, V>(a, lda, panel, depth, c, ldc, e);
    tailKernel<R - 1, V>(rows, a, lda, panel, depth, c, ldc, e);
  }
}

class PointwiseAvx512 final : public Kernel {
 public:
  PointwiseAvx512(const ConvParams& p, const float* w, const float* b, bool hasResidual,
                  std::unique_ptr<InPlaceActivation> activation)
      : pixels_(p.batch * p.outputShape[2] * p.outputShape[3]),
        inChannels_(p.inChannels),
        outChannels_(p.outChannels),
        panels_((p.outChannels + PANEL - 1) / PANEL),
        packed_(static_cast<size_t>(panels_ * p.inChannels * PANEL), 0.0f),
        bias_(static_cast<size_t>(panels_ * PANEL), 0.0f),
        hasResidual_(hasResidual),
        min_(clampMin(p.activation)),
        max_(clampMax(p.activation)),
        activation_(std::move(activation)) {
    // ONNX's W is [Cout][Cin][1][1].
    for (int64_t o = 0; o < outChannels_; ++o) {
      float* column = packed_.data() + (o / PANEL) * inChannels_ * PANEL + o % PANEL;
      for (int64_t k = 0; k < inChannels_; ++k) column[k * PANEL] = w[o * inChannels_ + k];
      if (b) bias_[static_cast<size_t>(o)] = b[o];
    }
  }

  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    const float* x = inputs[0].data<float>();
    const float* z = hasResidual_ ? inputs[3].data<float>() : nullptr;
    float* y = outputs[0].data<float>();
    ctx.parallelFor(panels_, 1, [&](int64_t first, int64_t end) {
      for (int64_t panel = first; panel < end; ++panel) runPanel(x, z, y, panel);
    });
    if (activation_) activation_->run(y, ctx);
  }

  int64_t heldBytes() const override {
    return static_cast<int64_t>((packed_.size() + bias_.size()) * sizeof(float)) +
           (activation_ ? activation_->heldBytes() : 0);
  }

 private:
  void runPanel(const float* x, const float* z, float* y, int64_t panel) const {
    const int64_t column = panel * PANEL, width = std::min(PANEL, outChannels_ - column);
    Epilogue e{bias_.data() + column, z ? z + column : nullptr, outChannels_, min_, max_,
               static_cast<__mmask16>(width >= 16 ? 0xFFFF : (1u << width) - 1),
               static_cast<__mmask16>(width >= 32 ? 0xFFFF : width <= 16 ? 0 : (1u << (width - 16)) - 1)};
    const float* weights = packed_.data() + panel * inChannels_ * PANEL;
    if (width > 16)
      runRows<2>(x, y, weights, column, e);
    else
      runRows<1>(x, y, weights, column, e);
  }

  template <int V>
  void runRows(const float* x, float* y, const float* weights, int64_t column, Epilogue e) const {
    const float* z = e.residual;
    for (int64_t row = 0; row < pixels_; row += ROWS<V>) {
      const int rows = static_cast<int>(std::min<int64_t>(ROWS<V>, pixels_ - row));
      if (z) e.residual = z + row * outChannels_;
      const float* a = x + row * inChannels_;
      float* c = y + row * outChannels_ + column;
      if (rows == ROWS<V>)
        microKernel<ROWS<V>, V>(a, inChannels_, weights, inChannels_, c, outChannels_, e);
      else
        tailKernel<ROWS<V> - 1, V>(rows, a, inChannels_, weights, inChannels_, c, outChannels_, e);
    }
  }

  int64_t pixels_, inChannels_, outChannels_, panels_;
  std::vector<float> packed_;  // [panel][k][32]
  std::vector<float> bias_;    // padded to whole panels, zeros where the node has none
  bool hasResidual_;
  float min_, max_;
  std::unique_ptr<InPlaceActivation> activation_;  // an activation the clamp cannot carry
};

}  // namespace

bool pointwiseAvx512Covers(const ConvParams& p) {
  // Below 32 channels on either side XNNPACK's kernel measured faster (squeezenet's 16-channel
  // squeeze and expand layers on 55x55: 0.043-0.045 ms against 0.060-0.068 for ours): too few
  // multiply-adds per call to pay for the 24-register tile's loads and stores.
  constexpr int64_t MIN_CHANNELS = 32;
  return p.spatialRank == 2 && p.group == 1 && p.isPointwise() && p.inChannels >= MIN_CHANNELS &&
         p.outChannels >= MIN_CHANNELS;
}

std::unique_ptr<Kernel> pointwiseAvx512(const NodeContext& ctx, const ConvParams& p) {
  const Tensor* w = ctx.constant(1);
  const Tensor* b = ctx.hasInput(2) ? ctx.constant(2) : nullptr;
  if (!w || (ctx.hasInput(2) && !b) || !pointwiseAvx512Covers(p)) return nullptr;
  return std::make_unique<PointwiseAvx512>(p, w->data<float>(), b ? b->data<float>() : nullptr, ctx.hasInput(3),
                                           InPlaceActivation::create(p.activation, shapeNumel(p.outputShape)));
}

}  // namespace cleave::xnn

#else

namespace cleave::xnn {
bool pointwiseAvx512Covers(const ConvParams&) { return false; }
std::unique_ptr<Kernel> pointwiseAvx512(const NodeContext&, const ConvParams&) { return nullptr; }
}  // namespace cleave::xnn

#endif

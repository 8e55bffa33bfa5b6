// A channels-last convolution is Y[pixels][Cout] = P[pixels][kh kw Cin] W^T, where row p of P is
// the input patch under output pixel p: for a 1x1 kernel with unit stride P is X itself, for any
// other P is gathered (im2col) a block of pixels at a time into the session's workspace, each
// block's rows contiguous runs of Cin channels. Each thread takes blocks of pixels: gather, the
// product, then bias, residual and clamp on the block while it is in cache; an activation the
// clamp cannot carry runs after.
#include "runtime/xnnpack/xnn_gemm_conv.h"

#include <algorithm>
#include <cstring>

#include "runtime/xnnpack/xnn_activation.h"
#include "runtime/xnnpack/xnn_gemm.h"

namespace cleave::xnn {
namespace {

// Bytes of patches per block: about half of a core's L2, so the block and the output rows it
// makes stay in cache between the gather, the product and the epilogue.
constexpr int64_t PATCH_BLOCK_BYTES = 256 * 1024;

struct Geometry {
  int64_t height, width, inChannels, outHeight, outWidth;
  int64_t kernelH, kernelW, strideH, strideW, dilationH, dilationW, padTop, padLeft;
  bool pointwise;
  int64_t patchLength() const { return kernelH * kernelW * inChannels; }
};

// Rows [begin, end) of P: the patch under each output pixel, zeros where it hangs over the edge.
void gatherPatches(const Geometry& g, const float* x, int64_t begin, int64_t end, float* patches) {
  const int64_t outPlane = g.outHeight * g.outWidth;
  const auto channelBytes = static_cast<size_t>(g.inChannels) * sizeof(float);
  for (int64_t pixel = begin; pixel < end; ++pixel) {
    const int64_t n = pixel / outPlane, oh = pixel % outPlane / g.outWidth, ow = pixel % g.outWidth;
    float* row = patches + (pixel - begin) * g.patchLength();
    for (int64_t kh = 0; kh < g.kernelH; ++kh) {
      const int64_t ih = oh * g.strideH - g.padTop + kh * g.dilationH;
      for (int64_t kw = 0; kw < g.kernelW; ++kw, row += g.inChannels) {
        const int64_t iw = ow * g.strideW - g.padLeft + kw * g.dilationW;
        if (ih < 0 || ih >= g.height || iw < 0 || iw >= g.width) std::memset(row, 0, channelBytes);
        else std::memcpy(row, x + ((n * g.height + ih) * g.width + iw) * g.inChannels, channelBytes);
      }
    }
  }
}

class GemmConvNhwc final : public Kernel {
 public:
  GemmConvNhwc(const Geometry& g, int64_t pixels, int64_t outChannels, std::unique_ptr<ConstantGemm> gemm,
               std::vector<float> bias, bool hasResidual, float min, float max,
               std::unique_ptr<InPlaceActivation> activation)
      : g_(g),
        pixels_(pixels),
        outChannels_(outChannels),
        blockPixels_(std::max<int64_t>(1, PATCH_BLOCK_BYTES / static_cast<int64_t>(sizeof(float)) / g.patchLength())),
        gemm_(std::move(gemm)),
        bias_(std::move(bias)),
        hasResidual_(hasResidual),
        min_(min),
        max_(max),
        activation_(std::move(activation)) {}

  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    const float* x = inputs[0].data<float>();
    const float* z = hasResidual_ ? inputs[3].data<float>() : nullptr;
    float* y = outputs[0].data<float>();
    // Threads take whole blocks, so every product covers the same rows however many threads
    // run: the BLAS may pick its kernel by the row count, and the result must not depend on
    // the threads (a session measures its runs both ways, pool_choice.h).
    const int64_t blocks = (pixels_ + blockPixels_ - 1) / blockPixels_;
    ctx.parallelChunks(blocks, 1, [&](int64_t chunk, int64_t firstBlock, int64_t endBlock) {
      float* patches = g_.pointwise ? nullptr : ctx.workspaceFloats(chunk, blockBytes());
      for (int64_t block = firstBlock; block < endBlock; ++block) {
        const int64_t begin = block * blockPixels_, end = std::min(pixels_, begin + blockPixels_);
        if (g_.pointwise) {
          gemm_->run(x + begin * g_.inChannels, y + begin * outChannels_, end - begin);
        } else {
          gatherPatches(g_, x, begin, end, patches);
          gemm_->run(patches, y + begin * outChannels_, end - begin);
        }
        epilogue(y, z, begin, end);
      }
    });
    if (activation_) activation_->run(y, ctx);
  }

  int64_t workspaceBytes(int threads) const override { return g_.pointwise ? 0 : threads * blockBytes(); }

  int64_t heldBytes() const override {
    return gemm_->heldBytes() + static_cast<int64_t>(bias_.size() * sizeof(float)) +
           (activation_ ? activation_->heldBytes() : 0);
  }

 private:
  int64_t blockBytes() const { return alignedFloatBytes(blockPixels_ * g_.patchLength()); }

  // Bias, residual and the clamp over output pixels [begin, end).
  void epilogue(float* y, const float* z, int64_t begin, int64_t end) const {
    for (int64_t pixel = begin; pixel < end; ++pixel) {
      float* row = y + pixel * outChannels_;
      const float* residual = z ? z + pixel * outChannels_ : nullptr;
      for (int64_t c = 0; c < outChannels_; ++c) {
        float value = row[c] + (bias_.empty() ? 0.0f : bias_[static_cast<size_t>(c)]);
        if (residual) value += residual[c];
        row[c] = std::min(std::max(value, min_), max_);
      }
    }
  }

  Geometry g_;
  int64_t pixels_, outChannels_, blockPixels_;
  std::unique_ptr<ConstantGemm> gemm_;
  std::vector<float> bias_;
  bool hasResidual_;
  float min_, max_;
  std::unique_ptr<InPlaceActivation> activation_;
};

}  // namespace

std::unique_ptr<Kernel> gemmConvolutionNhwc(const NodeContext& ctx, const ConvParams& p) {
  // Gathering patches copies runs of Cin channels; with fewer than 16 (a stem on RGB) the copies
  // are too short to pay, and XNNPACK's indirect convolution reads the input in place.
  if (!gemmOnBlas() || p.group != 1 || p.spatialRank != 2 || (!p.isPointwise() && p.inChannels < 16)) return nullptr;
  const Tensor* w = ctx.constant(1);
  const Tensor* b = ctx.hasInput(2) ? ctx.constant(2) : nullptr;
  if (!w || (ctx.hasInput(2) && !b)) return nullptr;
  Geometry g{p.inputSpatial[0], p.inputSpatial[1], p.inChannels,    p.outputShape[2], p.outputShape[3],
             p.kernel[0],       p.kernel[1],       p.strides[0],    p.strides[1],     p.dilations[0],
             p.dilations[1],    p.padsBegin[0],    p.padsBegin[1],  p.isPointwise()};
  // Weights as [Cout][kh][kw][Cin], the order of a gathered patch.
  std::vector<float> weights = channelsLastWeights(w->data<float>(), p.outChannels, p.inChannels, p.kernelSize());
  const int64_t depth = g.patchLength();
  auto gemm = std::make_unique<ConstantGemm>(weights.data(), p.outChannels, depth, depth, p.outChannels);
  std::vector<float> bias;
  if (b) bias.assign(b->data<float>(), b->data<float>() + p.outChannels);
  return std::make_unique<GemmConvNhwc>(g, p.batch * p.outputSpatialSize(), p.outChannels, std::move(gemm),
                                        std::move(bias), ctx.hasInput(3), clampMin(p.activation),
                                        clampMax(p.activation),
                                        InPlaceActivation::create(p.activation, shapeNumel(p.outputShape)));
}

}  // namespace cleave::xnn

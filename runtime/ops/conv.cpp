#include "runtime/ops/conv.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <memory>

// GCC 12 reports false -Wmaybe-uninitialized inside its own AVX-512 intrinsics as Eigen inlines
// them; the warnings are located in those headers, so silencing them around the include is enough.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop
#include <fmt/format.h>

#include "runtime/ops/depthwise_conv.h"
#include "runtime/ops/ops.h"
#include "runtime/ops/winograd_conv.h"
#include "runtime/thread_pool.h"

namespace cleave {

Result<AutoPad> parseAutoPad(const std::string& text) {
  if (text == "NOTSET" || text.empty()) return AutoPad::NotSet;
  if (text == "SAME_UPPER") return AutoPad::SameUpper;
  if (text == "SAME_LOWER") return AutoPad::SameLower;
  if (text == "VALID") return AutoPad::Valid;
  return Error{fmt::format("auto_pad '{}' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID", text)};
}

int64_t ConvParams::kernelSize() const {
  int64_t size = 1;
  for (int64_t k : kernel) size *= k;
  return size;
}

int64_t ConvParams::outputSpatialSize() const {
  int64_t size = 1;
  for (size_t i = 2; i < outputShape.size(); ++i) size *= outputShape[i];
  return size;
}

int64_t ConvParams::macs() const {
  return batch * outChannels * outputSpatialSize() * inChannelsPerGroup() * kernelSize();
}

bool ConvParams::isPointwise() const {
  for (size_t i = 0; i < spatialRank; ++i)
    if (kernel[i] != 1 || strides[i] != 1 || padsBegin[i] != 0 || padsEnd[i] != 0) return false;
  return true;
}

int64_t convOutputDim(int64_t input, int64_t kernel, int64_t stride, int64_t dilation, int64_t padBegin,
                      int64_t padEnd) {
  int64_t extent = (kernel - 1) * dilation + 1;
  int64_t span = input + padBegin + padEnd - extent;
  if (span < 0) return 0;
  return span / stride + 1;
}

namespace {

// Attribute values beyond this are surely corrupt; capping them keeps the index arithmetic far
// from int64 overflow.
constexpr int64_t MAX_CONV_ATTRIBUTE = int64_t{1} << 24;

Status checkSpatialList(const std::vector<int64_t>& values, size_t expected, const char* name, int64_t min) {
  if (values.size() != expected)
    return Error{fmt::format("{} has {} values, expected {}", name, values.size(), expected)};
  for (int64_t v : values)
    if (v < min || v > MAX_CONV_ATTRIBUTE)
      return Error{fmt::format("{} value {} out of range [{}, {}]", name, v, min, MAX_CONV_ATTRIBUTE)};
  return {};
}

}  // namespace

Result<ConvParams> parseConvParams(const Attributes& attributes, const Shape& x, const Shape& w) {
  ConvParams p;
  if (x.size() < 3 || x.size() > 5)
    return Error{fmt::format("input X has shape {}, expected rank 3 to 5 (N, C, 1-3 spatial dims)", shapeString(x))};
  if (w.size() != x.size())
    return Error{fmt::format("weight W has shape {}, expected rank {} to match X {}", shapeString(w), x.size(),
                             shapeString(x))};
  for (size_t i = 1; i < x.size(); ++i)
    if (x[i] < 1) return Error{fmt::format("input X has empty dim in shape {}", shapeString(x))};
  for (int64_t d : w)
    if (d < 1) return Error{fmt::format("weight W has empty dim in shape {}", shapeString(w))};
  if (x[0] < 0) return Error{fmt::format("input X has negative batch in {}", shapeString(x))};

  p.spatialRank = x.size() - 2;
  p.batch = x[0];
  p.inChannels = x[1];
  p.outChannels = w[0];
  p.inputSpatial.assign(x.begin() + 2, x.end());

  Result<int64_t> group = attributes.getInt("group", 1);
  if (!group) return group.error();
  p.group = *group;
  if (p.group < 1 || p.group > p.inChannels)
    return Error{fmt::format("group {} out of range [1, {}] (input channels)", p.group, p.inChannels)};
  if (p.inChannels % p.group != 0)
    return Error{fmt::format("group {} does not divide input channels {}", p.group, p.inChannels)};
  if (p.outChannels % p.group != 0)
    return Error{fmt::format("group {} does not divide output channels {}", p.group, p.outChannels)};
  if (w[1] * p.group != p.inChannels)
    return Error{fmt::format("weight W {} expects {} input channels per group, but X {} with group {} has {}",
                             shapeString(w), w[1], shapeString(x), p.group, p.inChannels / p.group)};

  p.kernel.assign(w.begin() + 2, w.end());
  Result<std::vector<int64_t>> kernelShape = attributes.getInts("kernel_shape", p.kernel);
  if (!kernelShape) return kernelShape.error();
  if (*kernelShape != p.kernel)
    return Error{fmt::format("kernel_shape {} does not match weight W {}", shapeString(*kernelShape), shapeString(w))};

  Result<std::vector<int64_t>> strides = attributes.getInts("strides", std::vector<int64_t>(p.spatialRank, 1));
  if (!strides) return strides.error();
  CLEAVE_TRY(checkSpatialList(*strides, p.spatialRank, "strides", 1));
  p.strides = *strides;
  Result<std::vector<int64_t>> dilations = attributes.getInts("dilations", std::vector<int64_t>(p.spatialRank, 1));
  if (!dilations) return dilations.error();
  CLEAVE_TRY(checkSpatialList(*dilations, p.spatialRank, "dilations", 1));
  p.dilations = *dilations;
  for (size_t i = 0; i < p.spatialRank; ++i)
    if (p.kernel[i] > MAX_CONV_ATTRIBUTE) return Error{fmt::format("kernel dim {} is too large", p.kernel[i])};

  Result<std::string> autoPadText = attributes.getString("auto_pad", "NOTSET");
  if (!autoPadText) return autoPadText.error();
  Result<AutoPad> autoPad = parseAutoPad(*autoPadText);
  if (!autoPad) return autoPad.error();
  p.autoPad = *autoPad;

  Result<std::vector<int64_t>> pads = attributes.getInts("pads", std::vector<int64_t>(2 * p.spatialRank, 0));
  if (!pads) return pads.error();
  // ONNX forbids pads together with auto_pad, but exporters write all-zero pads beside it; the
  // auto_pad rule wins, as in ONNX Runtime.
  if (p.autoPad == AutoPad::NotSet) CLEAVE_TRY(checkSpatialList(*pads, 2 * p.spatialRank, "pads", 0));

  p.outputShape = {p.batch, p.outChannels};
  p.padsBegin.assign(p.spatialRank, 0);
  p.padsEnd.assign(p.spatialRank, 0);
  for (size_t i = 0; i < p.spatialRank; ++i) {
    int64_t in = p.inputSpatial[i], stride = p.strides[i];
    int64_t extent = (p.kernel[i] - 1) * p.dilations[i] + 1;
    switch (p.autoPad) {
      case AutoPad::NotSet:
        p.padsBegin[i] = (*pads)[i];
        p.padsEnd[i] = (*pads)[i + p.spatialRank];
        break;
      case AutoPad::Valid: break;
      case AutoPad::SameUpper:
      case AutoPad::SameLower: {
        int64_t out = (in + stride - 1) / stride;
        int64_t total = std::max<int64_t>(0, (out - 1) * stride + extent - in);
        int64_t small = total / 2, large = total - small;
        p.padsBegin[i] = p.autoPad == AutoPad::SameUpper ? small : large;
        p.padsEnd[i] = p.autoPad == AutoPad::SameUpper ? large : small;
        break;
      }
    }
    int64_t out = convOutputDim(in, p.kernel[i], stride, p.dilations[i], p.padsBegin[i], p.padsEnd[i]);
    if (out < 1)
      return Error{fmt::format("spatial dim {} of size {} (pads {}+{}) is smaller than the dilated kernel extent {}", i,
                               in, p.padsBegin[i], p.padsEnd[i], extent)};
    p.outputShape.push_back(out);
  }
  return p;
}

Result<Activation> parseFusedActivation(const Attributes& attributes) {
  Result<std::string> name = attributes.getString("activation", "");
  if (!name) return name.error();
  if (attributes.has("activation_params")) {
    Result<std::vector<float>> params = attributes.getFloats("activation_params", {});
    if (!params) return params.error();
    return Activation::fromName(*name, *params);
  }
  std::vector<float> params;
  if (*name == "LeakyRelu") {
    Result<float> alpha = attributes.getFloat(attributes.has("activation_alpha") ? "activation_alpha" : "leaky_relu_alpha",
                                              0.01f);
    if (!alpha) return alpha.error();
    params = {*alpha};
  } else if (*name == "Clip" || *name == "HardSigmoid") {
    bool clip = *name == "Clip";
    Result<float> alpha = attributes.getFloat("activation_alpha", clip ? -INFINITY : 0.2f);
    Result<float> beta = attributes.getFloat("activation_beta", clip ? INFINITY : 0.5f);
    if (!alpha) return alpha.error();
    if (!beta) return beta.error();
    params = {*alpha, *beta};
  }
  return Activation::fromName(*name, params);
}

Result<ConvParams> parseConvParams(const NodeContext& ctx) {
  if (ctx.inputCount() < 2 || !ctx.hasInput(0) || !ctx.hasInput(1)) return ctx.error("inputs X and W are required");
  Result<ConvParams> p = parseConvParams(ctx.attributes(), ctx.input(0).shape, ctx.input(1).shape);
  if (!p) return ctx.error(p.error().message);
  if (ctx.node.domain == "com.microsoft") {
    Result<Activation> activation = parseFusedActivation(ctx.attributes());
    if (!activation) return ctx.error(activation.error().message);
    p->activation = *activation;
  }
  return p;
}

void convEpilogue(float* y, const float* z, const float* bias, int64_t rows, int64_t cols, int64_t stride,
                  const Activation& activation) {
  for (int64_t r = 0; r < rows; ++r) {
    float* __restrict yRow = y + r * stride;
    float b = bias ? bias[r] : 0.0f;
    if (z) {
      const float* __restrict zRow = z + r * stride;
      for (int64_t i = 0; i < cols; ++i) yRow[i] += b + zRow[i];
    } else if (bias) {
      for (int64_t i = 0; i < cols; ++i) yRow[i] += b;
    }
    activation.applyInPlace(yRow, cols);
  }
}

namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstRowMap = Eigen::Map<const RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using RowMap = Eigen::Map<RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;

// The convolution lifted to three spatial dims (D, H, W), leading dims 1 for 1-D and 2-D.
struct Geometry {
  std::array<int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, kernel{1, 1, 1}, stride{1, 1, 1}, dilation{1, 1, 1},
      padBegin{0, 0, 0}, padEnd{0, 0, 0};
  int64_t inPlane = 1, outPlane = 1, kernelPlane = 1;

  explicit Geometry(const ConvParams& p) {
    size_t lead = 3 - p.spatialRank;
    for (size_t i = 0; i < p.spatialRank; ++i) {
      in[lead + i] = p.inputSpatial[i];
      out[lead + i] = p.outputShape[2 + i];
      kernel[lead + i] = p.kernel[i];
      stride[lead + i] = p.strides[i];
      dilation[lead + i] = p.dilations[i];
      padBegin[lead + i] = p.padsBegin[i];
      padEnd[lead + i] = p.padsEnd[i];
    }
    inPlane = in[0] * in[1] * in[2];
    outPlane = out[0] * out[1] * out[2];
    kernelPlane = kernel[0] * kernel[1] * kernel[2];
  }
  // Output "rows": every (od, oh) pair; a row holds out[2] contiguous outputs.
  int64_t outRows() const { return out[0] * out[1]; }
};

// Copies the receptive fields of output rows [row0, row1) of one group into a [K, cols] matrix,
// K = Cin/group * kernel volume (W's row layout), cols = (row1 - row0) * out[2]. Zero where the
// field reaches into the padding.
void im2col(const Geometry& g, const float* x, int64_t channels, int64_t row0, int64_t row1, float* col) {
  const int64_t outW = g.out[2], cols = (row1 - row0) * outW;
  const int64_t inH = g.in[1], inW = g.in[2];
  float* dst = col;
  for (int64_t c = 0; c < channels; ++c) {
    const float* plane = x + c * g.inPlane;
    for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
      for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
        for (int64_t kw = 0; kw < g.kernel[2]; ++kw, dst += cols) {
          // Output columns whose input column lies inside [0, inW).
          int64_t offset = kw * g.dilation[2] - g.padBegin[2];
          int64_t sw = g.stride[2];
          int64_t lo = offset >= 0 ? 0 : std::min(outW, (-offset + sw - 1) / sw);
          int64_t hi = inW - 1 - offset < 0 ? 0 : std::min(outW, (inW - 1 - offset) / sw + 1);
          hi = std::max(hi, lo);
          for (int64_t r = row0; r < row1; ++r) {
            float* out = dst + (r - row0) * outW;
            int64_t id = (r / g.out[1]) * g.stride[0] + kd * g.dilation[0] - g.padBegin[0];
            int64_t ih = (r % g.out[1]) * g.stride[1] + kh * g.dilation[1] - g.padBegin[1];
            if (id < 0 || id >= g.in[0] || ih < 0 || ih >= inH) {
              std::fill(out, out + outW, 0.0f);
              continue;
            }
            const float* src = plane + (id * inH + ih) * inW + offset;
            std::fill(out, out + lo, 0.0f);
            if (sw == 1) {
              std::memcpy(out + lo, src + lo, static_cast<size_t>(hi - lo) * sizeof(float));
            } else {
              for (int64_t ow = lo; ow < hi; ++ow) out[ow] = src[ow * sw];
            }
            std::fill(out + hi, out + outW, 0.0f);
          }
        }
      }
    }
  }
}

// im2col columns per chunk: a [K, cols] block of about this many floats (2 MB, this machine's L2)
// stays cached between im2col writing it and Eigen packing it. Best of runs on a shared 2-core
// AMD EPYC (AVX-512), resnet18 3x3 layers, single thread, budget in floats:
//   32K: layer1 4.2 ms, layer3 10.2 ms, layer4 24.3 ms (chunks too thin for Eigen's GEMM)
//   128K: layer1 5.6, layer3 3.6, layer4 9.0;  512K: layer1 3.3, layer3 3.4, layer4 4.6
//   unchunked: layer1 8.3, layer3 4.5, layer4 4.4 (conv1 7x7/2: 10.8 ms vs 5.4 ms at 512K)
// For comparison, Eigen Tensor's SpatialConvolution formulation (TensorFlow's
// extract_image_patches + contract, given its preferred channels-innermost layout) measured
// conv1 45.9 ms, layer1 10.3, layer2 3x3/2 4.6, layer2 9.5, layer3 8.2, layer4 11.0 ms: slower
// on every layer than im2col + Eigen's matrix GEMM (5.4, 3.3, 1.7, 3.4, 3.4, 4.6 ms), so
// SpatialConvolution is not used.
constexpr int64_t IM2COL_CHUNK_FLOATS = 512 * 1024;

enum class ConvPath : uint8_t { Pointwise, Im2col, Depthwise, Winograd };

class ConvKernel final : public Kernel {
 public:
  // constantW: W's value when it is known at prepare time. The Winograd path transforms it once
  // here, so it needs a constant W (model initializers); otherwise 3x3 layers use im2col.
  ConvKernel(ConvParams params, bool hasBias, bool hasZ, const Tensor* constantW)
      : p_(std::move(params)), g_(p_), hasBias_(hasBias), hasZ_(hasZ) {
    if (constantW && WinogradConv::preferred(p_)) {
      path_ = ConvPath::Winograd;
      winograd_ = std::make_unique<WinogradConv>(p_, constantW->data<float>());
    } else if (p_.isDepthwise() && p_.spatialRank <= 2) {
      path_ = ConvPath::Depthwise;
      depthwise_ = std::make_unique<DepthwiseConv>(p_);
    } else if (p_.isPointwise()) {
      path_ = ConvPath::Pointwise;
    } else {
      path_ = ConvPath::Im2col;
    }
    int64_t k = p_.inChannelsPerGroup() * g_.kernelPlane;
    int64_t rowsByCache = IM2COL_CHUNK_FLOATS / std::max<int64_t>(1, k * g_.out[2]);
    rowsPerChunk_ = std::clamp<int64_t>(rowsByCache, 1, g_.outRows());
    if (path_ == ConvPath::Pointwise) rowsPerChunk_ = g_.outRows();  // no copy, so no cache reason to split
  }

  ConvPath path() const { return path_; }

  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    const float* x = inputs[0].data<float>();
    const float* w = inputs[1].data<float>();
    const float* bias = hasBias_ ? inputs[2].data<float>() : nullptr;
    const float* z = hasZ_ ? inputs[3].data<float>() : nullptr;
    float* y = outputs[0].data<float>();
    if (path_ == ConvPath::Depthwise) {
      depthwise_->run(x, w, bias, z, y, ctx);
    } else if (path_ == ConvPath::Winograd) {
      winograd_->run(x, bias, z, y, ctx);
    } else {
      runGemm(x, w, bias, z, y, ctx);
    }
  }

 private:
  // Pointwise and im2col: per (batch, group, chunk of output rows) one GEMM
  // Y[Cout/g, cols] = W[Cout/g, K] * col[K, cols], then the fused epilogue on that block.
  void runGemm(const float* x, const float* w, const float* bias, const float* z, float* y,
               const RunContext& ctx) const {
    const int64_t cinG = p_.inChannelsPerGroup(), coutG = p_.outChannelsPerGroup();
    const int64_t k = cinG * g_.kernelPlane, outW = g_.out[2];
    bool pointwise = path_ == ConvPath::Pointwise;
    int64_t rowsPerChunk = rowsPerChunk_;
    if (ctx.pool && ctx.pool->size() > 1) {
      // Enough units for every thread (two each, to even out the tail).
      int64_t want = 2 * ctx.pool->size();
      int64_t perImage = std::max<int64_t>(1, want / std::max<int64_t>(1, p_.batch * p_.group));
      rowsPerChunk = std::min(rowsPerChunk, std::max<int64_t>(1, (g_.outRows() + perImage - 1) / perImage));
    }
    const int64_t chunks = (g_.outRows() + rowsPerChunk - 1) / rowsPerChunk;
    const int64_t units = p_.batch * p_.group * chunks;
    ctx.parallelChunks(units, 1, [&](int64_t worker, int64_t begin, int64_t end) {
      for (int64_t unit = begin; unit < end; ++unit) {
        int64_t chunk = unit % chunks, ng = unit / chunks;
        int64_t n = ng / p_.group, grp = ng % p_.group;
        int64_t row0 = chunk * rowsPerChunk;
        int64_t row1 = std::min(g_.outRows(), row0 + rowsPerChunk);
        int64_t cols = (row1 - row0) * outW;
        if (cols == 0) continue;
        const float* xGroup = x + (n * p_.inChannels + grp * cinG) * g_.inPlane;
        const float* colData;
        int64_t colStride;
        if (pointwise) {
          colData = xGroup + row0 * outW;
          colStride = g_.inPlane;
        } else {
          float* buffer = ctx.workspaceFloats(worker, columnBytes());
          im2col(g_, xGroup, cinG, row0, row1, buffer);
          colData = buffer;
          colStride = cols;
        }
        ConstRowMap wm(w + grp * coutG * k, coutG, k, Eigen::OuterStride<>(k));
        ConstRowMap cm(colData, k, cols, Eigen::OuterStride<>(colStride));
        int64_t yOffset = (n * p_.outChannels + grp * coutG) * g_.outPlane + row0 * outW;
        RowMap ym(y + yOffset, coutG, cols, Eigen::OuterStride<>(g_.outPlane));
        ym.noalias() = wm * cm;
        convEpilogue(y + yOffset, z ? z + yOffset : nullptr, bias ? bias + grp * coutG : nullptr, coutG, cols,
                 g_.outPlane, p_.activation);
      }
    });
  }

 public:
  int64_t workspaceBytes(int threads) const override {
    if (depthwise_) return depthwise_->workspaceBytes(threads);
    if (winograd_) return winograd_->workspaceBytes(threads);
    return path_ == ConvPath::Im2col ? threads * columnBytes() : 0;
  }

  int64_t heldBytes() const override {
    return winograd_ ? 16 * p_.outChannels * (p_.inChannels / p_.group) * static_cast<int64_t>(sizeof(float)) : 0;
  }

 private:
  // im2col's columns for one chunk of output rows: [Cin/g * kernel][rows * outW] (with more
  // threads a chunk has fewer rows, never more).
  int64_t columnBytes() const { return alignedFloatBytes(p_.inChannelsPerGroup() * g_.kernelPlane * rowsPerChunk_ * g_.out[2]); }

  ConvParams p_;
  Geometry g_;
  bool hasBias_ = false;
  bool hasZ_ = false;
  ConvPath path_ = ConvPath::Im2col;
  int64_t rowsPerChunk_ = 1;
  std::unique_ptr<DepthwiseConv> depthwise_;  // set on the depthwise path
  std::unique_ptr<WinogradConv> winograd_;    // set on the Winograd path
};

}  // namespace

Result<PreparedNode> prepareConv(const NodeContext& ctx) {
  bool fused = ctx.node.domain == "com.microsoft";
  CLEAVE_TRY(requireInputCount(ctx, 2, fused ? 4 : 3));
  Result<ConvParams> params = parseConvParams(ctx);
  if (!params) return params.error();
  CLEAVE_TRY(requireDType(ctx, 0, {DType::F32}));
  CLEAVE_TRY(requireDType(ctx, 1, {DType::F32}));
  bool hasBias = ctx.hasInput(2);
  if (hasBias) {
    CLEAVE_TRY(requireDType(ctx, 2, {DType::F32}));
    if (ctx.input(2).shape != Shape{params->outChannels})
      return ctx.error(fmt::format("bias B has shape {}, expected [{}]", shapeString(ctx.input(2).shape),
                                   params->outChannels));
  }
  bool hasZ = ctx.hasInput(3);
  if (hasZ) {
    CLEAVE_TRY(requireDType(ctx, 3, {DType::F32}));
    if (ctx.input(3).shape != params->outputShape)
      return ctx.error(fmt::format("residual Z has shape {}, expected the output shape {}",
                                   shapeString(ctx.input(3).shape), shapeString(params->outputShape)));
  }
  PreparedNode prepared;
  prepared.outputTypes = {TensorType{DType::F32, params->outputShape}};
  prepared.macs = params->macs();
  prepared.opClass = params->isDepthwise() ? OpClass::Depthwise : OpClass::Conv;
  prepared.kernel = std::make_unique<ConvKernel>(std::move(*params), hasBias, hasZ, ctx.constant(1));
  return prepared;
}

}  // namespace cleave

#include "runtime/ops/pool.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

namespace cleave {

namespace {

// ceil(a / b) for b > 0 and any sign of a.
int64_t ceilDiv(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

// Where one output position's window falls along one axis: kernel offsets [kLo, kHi) land in
// the input, [0, padCount) in the padded input; offset k reads input position base + k * dilation.
struct AxisWindow {
  int64_t base;
  int64_t kLo, kHi;
  int64_t padCount;
};

std::vector<AxisWindow> axisWindows(const PoolGeometry& g, size_t d) {
  std::vector<AxisWindow> windows(static_cast<size_t>(g.out[d]));
  for (int64_t o = 0; o < g.out[d]; ++o) {
    AxisWindow& w = windows[static_cast<size_t>(o)];
    w.base = o * g.stride[d] - g.padBegin[d];
    w.kLo = std::clamp<int64_t>(ceilDiv(-w.base, g.dilation[d]), 0, g.kernel[d]);
    w.kHi = std::clamp<int64_t>(ceilDiv(g.in[d] - w.base, g.dilation[d]), w.kLo, g.kernel[d]);
    // A window never starts before the padded region, so its padded span starts at offset 0.
    w.padCount = std::clamp<int64_t>(ceilDiv(g.in[d] + g.padEnd[d] - w.base, g.dilation[d]), 0, g.kernel[d]);
  }
  return windows;
}

template <bool IS_MAX, class Acc>
inline Acc combine(Acc a, Acc b) {
  if constexpr (IS_MAX) return std::max(a, b);
  else return a + b;
}

// Reduces windows of K taps (dilation 1) at stride S along a padded row: dst[o] = op(src[o*S ..
// o*S+K)). K and S are compile-time for the common shapes so the loop vectorises.
template <bool IS_MAX, class Acc, int K, int S>
void columnsFixed(const Acc* src, Acc* dst, int64_t n) {
  for (int64_t o = 0; o < n; ++o) {
    const Acc* p = src + o * S;
    Acc acc = p[0];
    for (int k = 1; k < K; ++k) acc = combine<IS_MAX>(acc, p[k]);
    dst[o] = acc;
  }
}

template <bool IS_MAX, class Acc>
void columns(const Acc* src, Acc* dst, int64_t n, int64_t kernel, int64_t stride, int64_t dilation) {
  if (dilation == 1) {
    if (kernel == 3 && stride == 2) return columnsFixed<IS_MAX, Acc, 3, 2>(src, dst, n);
    if (kernel == 2 && stride == 2) return columnsFixed<IS_MAX, Acc, 2, 2>(src, dst, n);
    if (kernel == 3 && stride == 1) return columnsFixed<IS_MAX, Acc, 3, 1>(src, dst, n);
    if (kernel == 2 && stride == 1) return columnsFixed<IS_MAX, Acc, 2, 1>(src, dst, n);
  }
  for (int64_t o = 0; o < n; ++o) {
    const Acc* p = src + o * stride;
    Acc acc = p[0];
    for (int64_t k = 1; k < kernel; ++k) acc = combine<IS_MAX>(acc, p[k * dilation]);
    dst[o] = acc;
  }
}

// Separable pooling: for each output row, first reduce the window's input rows into one row
// (vectorised across the row), then reduce that row along the last axis. The row sits in a
// buffer padded on both sides with the identity (lowest value for max, 0 for sums), so every
// window along the last axis is a plain run of taps with no bounds checks; averages divide by
// counts computed separately.
template <class T, bool IS_MAX>
void poolRows(const PoolGeometry& g, bool countIncludePad, const T* in, T* out, int64_t planeBegin,
              int64_t planeEnd) {
  using Acc = std::conditional_t<IS_MAX, T, float>;
  const Acc init = IS_MAX ? std::numeric_limits<T>::lowest() : Acc(0);
  std::vector<AxisWindow> w0 = axisWindows(g, 0), w1 = axisWindows(g, 1), w2 = axisWindows(g, 2);
  const int64_t width = g.in[2], outWidth = g.out[2];
  const int64_t kernel2 = g.kernel[2], stride2 = g.stride[2], dilation2 = g.dilation[2];
  const int64_t bufferWidth =
      std::max(g.padBegin[2] + width + g.padEnd[2], (outWidth - 1) * stride2 + (kernel2 - 1) * dilation2 + 1);
  std::vector<Acc> buffer(static_cast<size_t>(bufferWidth), init);
  Acc* row = buffer.data() + g.padBegin[2];
  std::vector<float> columnCount(static_cast<size_t>(outWidth));
  for (int64_t o2 = 0; o2 < outWidth; ++o2) {
    const AxisWindow& a2 = w2[static_cast<size_t>(o2)];
    columnCount[static_cast<size_t>(o2)] = static_cast<float>(countIncludePad ? a2.padCount : a2.kHi - a2.kLo);
  }
  std::vector<Acc> sums(IS_MAX ? 0 : static_cast<size_t>(outWidth));
  for (int64_t p = planeBegin; p < planeEnd; ++p) {
    const T* plane = in + p * g.inPlane();
    T* o = out + p * g.outPlane();
    for (int64_t o0 = 0; o0 < g.out[0]; ++o0) {
      const AxisWindow& a0 = w0[static_cast<size_t>(o0)];
      for (int64_t o1 = 0; o1 < g.out[1]; ++o1, o += outWidth) {
        const AxisWindow& a1 = w1[static_cast<size_t>(o1)];
        bool first = true;  // windows are never empty (checked by poolGeometry)
        for (int64_t k0 = a0.kLo; k0 < a0.kHi; ++k0) {
          int64_t i0 = a0.base + k0 * g.dilation[0];
          for (int64_t k1 = a1.kLo; k1 < a1.kHi; ++k1) {
            const T* src = plane + (i0 * g.in[1] + a1.base + k1 * g.dilation[1]) * width;
            if (first) {
              for (int64_t x = 0; x < width; ++x) row[x] = static_cast<Acc>(src[x]);
              first = false;
            } else {
              for (int64_t x = 0; x < width; ++x) row[x] = combine<IS_MAX>(row[x], static_cast<Acc>(src[x]));
            }
          }
        }
        if constexpr (IS_MAX) {
          columns<true, Acc>(buffer.data(), o, outWidth, kernel2, stride2, dilation2);
        } else {
          columns<false, Acc>(buffer.data(), sums.data(), outWidth, kernel2, stride2, dilation2);
          const float rowCount = static_cast<float>(countIncludePad ? a0.padCount * a1.padCount
                                                                    : (a0.kHi - a0.kLo) * (a1.kHi - a1.kLo));
          for (int64_t x = 0; x < outWidth; ++x) o[x] = sums[static_cast<size_t>(x)] / (rowCount * columnCount[static_cast<size_t>(x)]);
        }
      }
    }
  }
}

// MaxPool with indices: a direct walk in window order, so ties resolve to the first element in
// row-major window order like ONNX Runtime.
template <class T>
void maxPoolWithIndices(const PoolGeometry& g, const T* in, T* out, int64_t* indices, int64_t planeBegin,
                        int64_t planeEnd) {
  std::vector<AxisWindow> w0 = axisWindows(g, 0), w1 = axisWindows(g, 1), w2 = axisWindows(g, 2);
  for (int64_t p = planeBegin; p < planeEnd; ++p) {
    int64_t at = p * g.outPlane();
    for (const AxisWindow& a0 : w0)
      for (const AxisWindow& a1 : w1)
        for (const AxisWindow& a2 : w2) {
          T best = std::numeric_limits<T>::lowest();
          int64_t bestIndex = -1;
          for (int64_t k0 = a0.kLo; k0 < a0.kHi; ++k0)
            for (int64_t k1 = a1.kLo; k1 < a1.kHi; ++k1) {
              int64_t rowIndex = p * g.inPlane() +
                                 ((a0.base + k0 * g.dilation[0]) * g.in[1] + a1.base + k1 * g.dilation[1]) * g.in[2];
              for (int64_t k2 = a2.kLo; k2 < a2.kHi; ++k2) {
                int64_t index = rowIndex + a2.base + k2 * g.dilation[2];
                if (bestIndex < 0 || in[index] > best) {
                  best = in[index];
                  bestIndex = index;
                }
              }
            }
          out[at] = best;
          indices[at] = bestIndex;
          ++at;
        }
  }
}

int64_t minPlanesPerChunk(const PoolGeometry& g) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, g.inPlane() + g.outPlane() * g.kernelSize()));
}

Result<int64_t> getFlag(const NodeContext& ctx, const char* name) {
  Result<int64_t> value = ctx.attributes().getInt(name, 0);
  if (!value) return ctx.error(value.error().message);
  if (*value != 0 && *value != 1) return ctx.error(fmt::format("{} must be 0 or 1, got {}", name, *value));
  return *value;
}

Shape outputShape(const Shape& input, const PoolGeometry& g) {
  Shape shape = {input[0], input[1]};
  for (size_t d = POOL_DIMS - (input.size() - 2); d < POOL_DIMS; ++d) shape.push_back(g.out[d]);
  return shape;
}

}  // namespace

Result<PoolGeometry> poolGeometry(const NodeContext& ctx, const Shape& input) {
  if (input.size() < 3 || input.size() > 2 + POOL_DIMS)
    return ctx.error(fmt::format("input must have rank 3 to 5 (N, C, 1 to 3 spatial dims), got {}", shapeString(input)));
  const size_t spatial = input.size() - 2;
  const size_t first = POOL_DIMS - spatial;  // model axis i maps to geometry axis first + i
  const Attributes& attrs = ctx.attributes();

  if (!attrs.has("kernel_shape")) return ctx.error("kernel_shape attribute is required");
  Result<std::vector<int64_t>> kernel = attrs.getInts("kernel_shape", {});
  Result<std::vector<int64_t>> strides = attrs.getInts("strides", std::vector<int64_t>(spatial, 1));
  Result<std::vector<int64_t>> dilations = attrs.getInts("dilations", std::vector<int64_t>(spatial, 1));
  Result<std::vector<int64_t>> pads = attrs.getInts("pads", std::vector<int64_t>(2 * spatial, 0));
  Result<std::string> autoPad = attrs.getString("auto_pad", "NOTSET");
  for (const auto* r : {&kernel, &strides, &dilations, &pads})
    if (!*r) return ctx.error(r->error().message);
  if (!autoPad) return ctx.error(autoPad.error().message);
  Result<int64_t> ceilMode = getFlag(ctx, "ceil_mode");
  if (!ceilMode) return ceilMode.error();

  auto checkList = [&](const char* name, const std::vector<int64_t>& values, size_t size, int64_t min) -> Status {
    if (values.size() != size)
      return ctx.error(fmt::format("{} has {} values, expected {} for input {}", name, values.size(), size, shapeString(input)));
    for (int64_t v : values)
      if (v < min) return ctx.error(fmt::format("{} values must be >= {}, got {}", name, min, v));
    return {};
  };
  CLEAVE_TRY(checkList("kernel_shape", *kernel, spatial, 1));
  CLEAVE_TRY(checkList("strides", *strides, spatial, 1));
  CLEAVE_TRY(checkList("dilations", *dilations, spatial, 1));
  CLEAVE_TRY(checkList("pads", *pads, 2 * spatial, 0));
  const std::string& mode = *autoPad;
  if (mode != "NOTSET" && mode != "SAME_UPPER" && mode != "SAME_LOWER" && mode != "VALID")
    return ctx.error(fmt::format("auto_pad '{}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", mode));

  PoolGeometry g;
  g.planes = input[0] * input[1];
  for (size_t i = 0; i < spatial; ++i) {
    const size_t d = first + i;
    const int64_t in = input[2 + i];
    g.in[d] = in;
    g.kernel[d] = (*kernel)[i];
    g.stride[d] = (*strides)[i];
    g.dilation[d] = (*dilations)[i];
    const int64_t extent = (g.kernel[d] - 1) * g.dilation[d] + 1;
    if (mode == "SAME_UPPER" || mode == "SAME_LOWER") {
      // Explicit pads are ignored when auto_pad asks for them to be computed.
      g.out[d] = ceilDiv(in, g.stride[d]);
      int64_t total = std::max<int64_t>(0, (g.out[d] - 1) * g.stride[d] + extent - in);
      g.padBegin[d] = mode == "SAME_UPPER" ? total / 2 : total - total / 2;
      g.padEnd[d] = total - g.padBegin[d];
      continue;
    }
    if (mode == "NOTSET") {
      g.padBegin[d] = (*pads)[i];
      g.padEnd[d] = (*pads)[i + spatial];
    }
    const int64_t padded = in + g.padBegin[d] + g.padEnd[d];
    if (padded < extent)
      return ctx.error(fmt::format("kernel extent {} is larger than the padded input {} along spatial axis {}", extent,
                                   padded, i));
    if (g.padBegin[d] >= extent || g.padEnd[d] >= extent)
      return ctx.error(fmt::format("pads ({}, {}) must be smaller than the kernel extent {} along spatial axis {}",
                                   g.padBegin[d], g.padEnd[d], extent, i));
    g.out[d] = (*ceilMode ? ceilDiv(padded - extent, g.stride[d]) : (padded - extent) / g.stride[d]) + 1;
    // ceil_mode: drop a last window that would start in the end padding.
    if (*ceilMode && (g.out[d] - 1) * g.stride[d] >= in + g.padBegin[d]) --g.out[d];
  }
  // Dilated windows can skip over every input element; reject rather than invent a value.
  for (size_t d = first; d < POOL_DIMS; ++d)
    for (const AxisWindow& w : axisWindows(g, d))
      if (w.kHi <= w.kLo)
        return ctx.error(fmt::format("a pooling window along spatial axis {} covers no input element", d - first));
  return g;
}

template <class T>
void maxPool(const PoolGeometry& g, const T* in, T* out, int64_t* indices, int64_t planeBegin, int64_t planeEnd) {
  if (indices) {
    maxPoolWithIndices(g, in, out, indices, planeBegin, planeEnd);
  } else {
    poolRows<T, true>(g, false, in, out, planeBegin, planeEnd);
  }
}
template void maxPool<float>(const PoolGeometry&, const float*, float*, int64_t*, int64_t, int64_t);
template void maxPool<int8_t>(const PoolGeometry&, const int8_t*, int8_t*, int64_t*, int64_t, int64_t);
template void maxPool<uint8_t>(const PoolGeometry&, const uint8_t*, uint8_t*, int64_t*, int64_t, int64_t);

void averagePool(const PoolGeometry& g, bool countIncludePad, const float* in, float* out, int64_t planeBegin,
                 int64_t planeEnd) {
  poolRows<float, false>(g, countIncludePad, in, out, planeBegin, planeEnd);
}

void globalAveragePool(const float* in, float* out, int64_t size, int64_t planeBegin, int64_t planeEnd) {
  constexpr int64_t LANES = 8;  // independent partial sums so the loop vectorises
  for (int64_t p = planeBegin; p < planeEnd; ++p) {
    const float* x = in + p * size;
    float partial[LANES] = {};
    int64_t i = 0;
    for (; i + LANES <= size; i += LANES)
      for (int64_t l = 0; l < LANES; ++l) partial[l] += x[i + l];
    float sum = 0.0f;
    for (; i < size; ++i) sum += x[i];
    for (float s : partial) sum += s;
    out[p] = sum / static_cast<float>(size);
  }
}

Result<PreparedNode> prepareMaxPool(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 1, 1));
  CLEAVE_TRY(requireDType(ctx, 0, {DType::F32, DType::I8, DType::U8}));
  if (ctx.node.outputs.empty() || ctx.node.outputs.size() > 2)
    return ctx.error(fmt::format("expects 1 or 2 outputs, got {}", ctx.node.outputs.size()));
  Result<int64_t> storageOrder = ctx.attributes().getInt("storage_order", 0);
  if (!storageOrder) return ctx.error(storageOrder.error().message);
  if (*storageOrder != 0) return ctx.error("storage_order must be 0 (column-major indices are not supported)");
  const Shape& shape = ctx.input(0).shape;
  Result<PoolGeometry> geometry = poolGeometry(ctx, shape);
  if (!geometry) return geometry.error();
  const PoolGeometry g = *geometry;
  const bool wantIndices = ctx.node.outputs.size() == 2 && !ctx.node.outputs[1].empty();

  PreparedNode prepared;
  Shape outShape = outputShape(shape, g);
  prepared.outputTypes = {TensorType{ctx.input(0).dtype, outShape}};
  if (ctx.node.outputs.size() == 2) prepared.outputTypes.push_back(TensorType{DType::I64, outShape});
  prepared.macs = shapeNumel(outShape) * g.kernelSize();
  prepared.opClass = OpClass::Elementwise;
  prepared.kernel = makeKernel([g, wantIndices](std::span<const Tensor> inputs, std::span<Tensor> outputs,
                                                const RunContext& run) {
    int64_t* indices = wantIndices ? outputs[1].data<int64_t>() : nullptr;
    run.parallelFor(g.planes, minPlanesPerChunk(g), [&](int64_t begin, int64_t end) {
      switch (inputs[0].dtype()) {
        case DType::F32: maxPool(g, inputs[0].data<float>(), outputs[0].data<float>(), indices, begin, end); break;
        case DType::I8: maxPool(g, inputs[0].data<int8_t>(), outputs[0].data<int8_t>(), indices, begin, end); break;
        case DType::U8: maxPool(g, inputs[0].data<uint8_t>(), outputs[0].data<uint8_t>(), indices, begin, end); break;
        default: break;  // prepare admits only the types above
      }
    });
  });
  return prepared;
}

Result<PreparedNode> prepareAveragePool(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 1, 1));
  CLEAVE_TRY(requireDType(ctx, 0, {DType::F32}));
  if (ctx.node.outputs.size() != 1) return ctx.error(fmt::format("expects 1 output, got {}", ctx.node.outputs.size()));
  Result<int64_t> countIncludePad = getFlag(ctx, "count_include_pad");
  if (!countIncludePad) return countIncludePad.error();
  const Shape& shape = ctx.input(0).shape;
  Result<PoolGeometry> geometry = poolGeometry(ctx, shape);
  if (!geometry) return geometry.error();
  const PoolGeometry g = *geometry;
  const bool includePad = *countIncludePad != 0;

  PreparedNode prepared;
  Shape outShape = outputShape(shape, g);
  prepared.outputTypes = {TensorType{DType::F32, outShape}};
  prepared.macs = shapeNumel(outShape) * g.kernelSize();
  prepared.opClass = OpClass::Elementwise;
  prepared.kernel = makeKernel([g, includePad](std::span<const Tensor> inputs, std::span<Tensor> outputs,
                                               const RunContext& run) {
    run.parallelFor(g.planes, minPlanesPerChunk(g), [&](int64_t begin, int64_t end) {
      averagePool(g, includePad, inputs[0].data<float>(), outputs[0].data<float>(), begin, end);
    });
  });
  return prepared;
}

Result<PreparedNode> prepareGlobalAveragePool(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 1, 1));
  CLEAVE_TRY(requireDType(ctx, 0, {DType::F32}));
  CLEAVE_TRY(requireRank(ctx, 0, 3, 64));
  if (ctx.node.outputs.size() != 1) return ctx.error(fmt::format("expects 1 output, got {}", ctx.node.outputs.size()));
  const Shape& shape = ctx.input(0).shape;
  Shape outShape(shape.size(), 1);
  outShape[0] = shape[0];
  outShape[1] = shape[1];
  const int64_t planes = shape[0] * shape[1];
  const int64_t size = shapeNumel(shape) / std::max<int64_t>(1, planes);
  if (planes > 0 && size == 0) return ctx.error(fmt::format("cannot average over empty spatial dims {}", shapeString(shape)));

  PreparedNode prepared;
  prepared.outputTypes = {TensorType{DType::F32, outShape}};
  prepared.macs = shapeNumel(shape);
  prepared.opClass = OpClass::Elementwise;
  prepared.kernel = makeKernel([planes, size](std::span<const Tensor> inputs, std::span<Tensor> outputs,
                                              const RunContext& run) {
    run.parallelFor(planes, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, size)), [&](int64_t begin, int64_t end) {
      globalAveragePool(inputs[0].data<float>(), outputs[0].data<float>(), size, begin, end);
    });
  });
  return prepared;
}

}  // namespace cleave

#include "runtime/ops/unary_activation.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <fmt/format.h>

namespace cleave {

void applyActivation(const Activation& activation, const float* in, float* out, int64_t n) {
  // Out-of-place loops for the common kinds so they vectorise in one pass; the rest go through
  // an L1-sized copy plus Activation::applyInPlace, so the float math stays in one place.
  const float alpha = activation.alpha, beta = activation.beta;
  switch (activation.kind) {
    case Activation::Kind::Relu:
      for (int64_t i = 0; i < n; ++i) out[i] = std::max(in[i], 0.0f);
      return;
    case Activation::Kind::Clip:
      for (int64_t i = 0; i < n; ++i) out[i] = std::min(std::max(in[i], alpha), beta);
      return;
    default: break;
  }
  constexpr int64_t BLOCK = 1024;
  for (int64_t begin = 0; begin < n; begin += BLOCK) {
    int64_t count = std::min(BLOCK, n - begin);
    if (in != out) std::memcpy(out + begin, in + begin, static_cast<size_t>(count) * sizeof(float));
    activation.applyInPlace(out + begin, count);
  }
}

namespace {

constexpr int64_t MIN_PARALLEL_CHUNK = 16384;

template <class T>
void reluInt(const T* in, T* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = std::max(in[i], T(0));
}

template <class T>
void clipInt(const T* in, T* out, int64_t n, T lo, T hi) {
  for (int64_t i = 0; i < n; ++i) out[i] = std::min(std::max(in[i], lo), hi);
}

// Reads a Clip bound (min or max) from input `index` when given, else returns `fallback`.
template <class T>
T clipBound(std::span<const Tensor> inputs, size_t index, T fallback) {
  if (index >= inputs.size() || inputs[index].empty()) return fallback;
  return inputs[index].data<T>()[0];
}

template <class T>
Result<PreparedNode> prepareIntegerOp(PreparedNode prepared, bool isClip) {
  if (!isClip) {
    prepared.kernel = makeKernel([](std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& run) {
      const T* in = inputs[0].data<T>();
      T* out = outputs[0].data<T>();
      run.parallelFor(inputs[0].numel(), MIN_PARALLEL_CHUNK, [&](int64_t b, int64_t e) { reluInt(in + b, out + b, e - b); });
    });
    return prepared;
  }
  prepared.kernel = makeKernel([](std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& run) {
    T lo = clipBound<T>(inputs, 1, std::numeric_limits<T>::lowest());
    T hi = clipBound<T>(inputs, 2, std::numeric_limits<T>::max());
    const T* in = inputs[0].data<T>();
    T* out = outputs[0].data<T>();
    run.parallelFor(inputs[0].numel(), MIN_PARALLEL_CHUNK, [&](int64_t b, int64_t e) { clipInt(in + b, out + b, e - b, lo, hi); });
  });
  return prepared;
}

}  // namespace

Result<PreparedNode> prepareUnaryActivation(const NodeContext& ctx) {
  const std::string& op = ctx.node.opType;
  const Attributes& attrs = ctx.attributes();
  bool isClip = op == "Clip";
  // Clip's bounds are inputs from opset 11 on, attributes before.
  bool clipBoundInputs = isClip && ctx.opset >= 11;
  CLEAVE_TRY(requireInputCount(ctx, 1, clipBoundInputs ? 3 : 1));
  if (ctx.node.outputs.size() != 1) return ctx.error(fmt::format("expects 1 output, got {}", ctx.node.outputs.size()));

  DType dtype = ctx.input(0).dtype;
  if (op == "Relu") {
    CLEAVE_TRY(requireDType(ctx, 0, {DType::F32, DType::I32, DType::I64, DType::I8}));
  } else if (clipBoundInputs) {
    CLEAVE_TRY(requireDType(ctx, 0, {DType::F32, DType::I32, DType::I64, DType::I8, DType::U8}));
  } else {
    CLEAVE_TRY(requireDType(ctx, 0, {DType::F32}));
  }

  PreparedNode prepared;
  prepared.outputTypes = {ctx.input(0)};
  prepared.macs = ctx.input(0).numel();
  prepared.opClass = OpClass::Elementwise;
  prepared.aliasesInput = false;

  Activation activation;
  // Clip bounds that are not constants are read by the kernel at run time.
  bool runtimeBounds = false;
  if (op == "Relu") {
    activation.kind = Activation::Kind::Relu;
  } else if (op == "LeakyRelu") {
    Result<float> alpha = attrs.getFloat("alpha", 0.01f);
    if (!alpha) return ctx.error(alpha.error().message);
    activation.kind = Activation::Kind::LeakyRelu;
    activation.alpha = *alpha;
  } else if (op == "Sigmoid") {
    activation.kind = Activation::Kind::Sigmoid;
  } else if (op == "HardSigmoid") {
    Result<float> alpha = attrs.getFloat("alpha", 0.2f);
    if (!alpha) return ctx.error(alpha.error().message);
    Result<float> beta = attrs.getFloat("beta", 0.5f);
    if (!beta) return ctx.error(beta.error().message);
    activation.kind = Activation::Kind::HardSigmoid;
    activation.alpha = *alpha;
    activation.beta = *beta;
  } else if (op == "HardSwish") {
    activation.kind = Activation::Kind::HardSwish;
  } else if (isClip) {
    activation.kind = Activation::Kind::Clip;
    activation.alpha = -std::numeric_limits<float>::infinity();
    activation.beta = std::numeric_limits<float>::infinity();
    if (!clipBoundInputs) {
      // Clip-6's defaults are +-FLT_MAX; same result as infinities except for infinite inputs.
      Result<float> lo = attrs.getFloat("min", std::numeric_limits<float>::lowest());
      if (!lo) return ctx.error(lo.error().message);
      Result<float> hi = attrs.getFloat("max", std::numeric_limits<float>::max());
      if (!hi) return ctx.error(hi.error().message);
      activation.alpha = *lo;
      activation.beta = *hi;
    } else {
      for (size_t i = 1; i <= 2 && i < ctx.inputCount(); ++i) {
        if (!ctx.hasInput(i)) continue;
        if (ctx.input(i).dtype != dtype)
          return ctx.error(fmt::format("bound input {} has type {}, expected {} like the data", i,
                                       dtypeName(ctx.input(i).dtype), dtypeName(dtype)));
        if (ctx.input(i).numel() != 1)
          return ctx.error(fmt::format("bound input {} must be a scalar, got shape {}", i, shapeString(ctx.input(i).shape)));
        const Tensor* bound = ctx.constant(i);
        if (!bound) {
          runtimeBounds = true;
        } else if (dtype == DType::F32) {
          (i == 1 ? activation.alpha : activation.beta) = bound->data<float>()[0];
        }
      }
    }
  } else {
    return ctx.error("not an activation op");
  }

  if (dtype != DType::F32) {
    switch (dtype) {
      case DType::I32: return prepareIntegerOp<int32_t>(std::move(prepared), isClip);
      case DType::I64: return prepareIntegerOp<int64_t>(std::move(prepared), isClip);
      case DType::I8: return prepareIntegerOp<int8_t>(std::move(prepared), isClip);
      case DType::U8: return prepareIntegerOp<uint8_t>(std::move(prepared), isClip);
      default: return ctx.error("unsupported dtype");
    }
  }

  prepared.layoutAgnostic = true;
  prepared.kernel = makeKernel([activation, runtimeBounds](std::span<const Tensor> inputs, std::span<Tensor> outputs,
                                                           const RunContext& run) {
    Activation act = activation;
    if (runtimeBounds) {
      act.alpha = clipBound<float>(inputs, 1, act.alpha);
      act.beta = clipBound<float>(inputs, 2, act.beta);
    }
    const float* in = inputs[0].data<float>();
    float* out = outputs[0].data<float>();
    run.parallelFor(inputs[0].numel(), MIN_PARALLEL_CHUNK,
                    [&](int64_t b, int64_t e) { applyActivation(act, in + b, out + b, e - b); });
  });
  return prepared;
}

}  // namespace cleave

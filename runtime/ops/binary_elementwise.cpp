#include "runtime/ops/binary_elementwise.h"

#include <algorithm>

#include <fmt/format.h>

namespace cleave {

BroadcastPlan planBroadcast(const Shape& a, const Shape& b, const Shape& out) {
  size_t rank = out.size();
  // Each operand's contiguous strides in the output's rank; 0 where it has size 1.
  auto stridesOf = [&](const Shape& in) {
    std::vector<int64_t> strides(rank, 0);
    int64_t stride = 1;
    for (size_t d = in.size(); d-- > 0;) {
      strides[d + rank - in.size()] = in[d] == 1 ? 0 : stride;
      stride *= in[d];
    }
    return strides;
  };
  std::vector<int64_t> sa = stridesOf(a), sb = stridesOf(b);
  BroadcastPlan plan;
  plan.numel = shapeNumel(out);
  for (size_t d = 0; d < rank; ++d) {
    if (out[d] == 1) continue;  // contributes nothing to any index
    if (!plan.dims.empty() && plan.stridesA.back() == sa[d] * out[d] && plan.stridesB.back() == sb[d] * out[d]) {
      // Merge into the outer neighbour: both operands walk the pair as one run.
      plan.dims.back() *= out[d];
      plan.stridesA.back() = sa[d];
      plan.stridesB.back() = sb[d];
      continue;
    }
    plan.dims.push_back(out[d]);
    plan.stridesA.push_back(sa[d]);
    plan.stridesB.push_back(sb[d]);
  }
  if (plan.dims.empty()) {  // a single element
    plan.dims = {1};
    plan.stridesA = {0};
    plan.stridesB = {0};
  }
  return plan;
}

namespace {

constexpr int64_t MIN_PARALLEL_CHUNK = 16384;

// One contiguous run of the innermost dim. OP is a template parameter so the switch in
// applyBinaryOp folds away and the float loops vectorise.
template <BinaryOp OP, class T>
void innerRun(const T* __restrict a, int64_t strideA, const T* __restrict b, int64_t strideB, T* __restrict out,
              int64_t n) {
  if (strideA == 1 && strideB == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = applyBinaryOp<T>(OP, a[i], b[i]);
  } else if (strideA == 1 && strideB == 0) {
    const T s = *b;
    for (int64_t i = 0; i < n; ++i) out[i] = applyBinaryOp<T>(OP, a[i], s);
  } else if (strideA == 0 && strideB == 1) {
    const T s = *a;
    for (int64_t i = 0; i < n; ++i) out[i] = applyBinaryOp<T>(OP, s, b[i]);
  } else {
    // Not produced by planBroadcast for contiguous inputs; kept so any plan stays correct.
    for (int64_t i = 0; i < n; ++i) out[i] = applyBinaryOp<T>(OP, a[i * strideA], b[i * strideB]);
  }
}

template <BinaryOp OP, class T>
void runRange(const BroadcastPlan& plan, const T* a, const T* b, T* out, int64_t begin, int64_t end) {
  if (begin >= end) return;
  size_t rank = plan.dims.size();
  int64_t inner = plan.dims[rank - 1];
  int64_t innerA = plan.stridesA[rank - 1], innerB = plan.stridesB[rank - 1];
  // Odometer over the outer dims, starting at the row holding `begin`.
  int64_t coords[16] = {};
  std::vector<int64_t> heapCoords;
  int64_t* coord = coords;
  if (rank > 16) {
    heapCoords.assign(rank, 0);
    coord = heapCoords.data();
  }
  int64_t row = begin / inner;
  int64_t offA = 0, offB = 0;
  for (size_t d = rank - 1; d-- > 0;) {
    coord[d] = row % plan.dims[d];
    row /= plan.dims[d];
    offA += coord[d] * plan.stridesA[d];
    offB += coord[d] * plan.stridesB[d];
  }
  int64_t pos = begin % inner;
  for (int64_t i = begin; i < end;) {
    int64_t n = std::min(inner - pos, end - i);
    innerRun<OP, T>(a + offA + pos * innerA, innerA, b + offB + pos * innerB, innerB, out + i, n);
    i += n;
    pos = 0;
    for (size_t d = rank - 1; d-- > 0;) {
      offA += plan.stridesA[d];
      offB += plan.stridesB[d];
      if (++coord[d] < plan.dims[d]) break;
      offA -= plan.stridesA[d] * plan.dims[d];
      offB -= plan.stridesB[d] * plan.dims[d];
      coord[d] = 0;
    }
  }
}

template <class T>
void runTyped(BinaryOp op, const BroadcastPlan& plan, const Tensor& a, const Tensor& b, Tensor& out,
              const RunContext& run) {
  run.parallelFor(plan.numel, MIN_PARALLEL_CHUNK, [&](int64_t begin, int64_t end) {
    runBinaryRange<T>(op, plan, a.data<T>(), b.data<T>(), out.data<T>(), begin, end);
  });
}

void runAny(BinaryOp op, const BroadcastPlan& plan, const Tensor& a, const Tensor& b, Tensor& out,
            const RunContext& run) {
  switch (a.dtype()) {
    case DType::F32: runTyped<float>(op, plan, a, b, out, run); break;
    case DType::I32: runTyped<int32_t>(op, plan, a, b, out, run); break;
    case DType::I64: runTyped<int64_t>(op, plan, a, b, out, run); break;
    case DType::I8: runTyped<int8_t>(op, plan, a, b, out, run); break;
    case DType::U8: runTyped<uint8_t>(op, plan, a, b, out, run); break;
    default: break;  // prepare admits only the types above
  }
}

// Outputs this small with constant inputs are computed at prepare time, so shape arithmetic
// (Shape -> Gather -> Mul -> Reshape) folds into constants.
constexpr int64_t MAX_EAGER_ELEMENTS = 4096;

}  // namespace

template <class T>
void runBinaryRange(BinaryOp op, const BroadcastPlan& plan, const T* a, const T* b, T* out, int64_t begin,
                    int64_t end) {
  switch (op) {
    case BinaryOp::Add: runRange<BinaryOp::Add, T>(plan, a, b, out, begin, end); break;
    case BinaryOp::Sub: runRange<BinaryOp::Sub, T>(plan, a, b, out, begin, end); break;
    case BinaryOp::Mul: runRange<BinaryOp::Mul, T>(plan, a, b, out, begin, end); break;
    case BinaryOp::Div: runRange<BinaryOp::Div, T>(plan, a, b, out, begin, end); break;
  }
}

template void runBinaryRange<float>(BinaryOp, const BroadcastPlan&, const float*, const float*, float*, int64_t, int64_t);
template void runBinaryRange<int32_t>(BinaryOp, const BroadcastPlan&, const int32_t*, const int32_t*, int32_t*, int64_t, int64_t);
template void runBinaryRange<int64_t>(BinaryOp, const BroadcastPlan&, const int64_t*, const int64_t*, int64_t*, int64_t, int64_t);
template void runBinaryRange<int8_t>(BinaryOp, const BroadcastPlan&, const int8_t*, const int8_t*, int8_t*, int64_t, int64_t);
template void runBinaryRange<uint8_t>(BinaryOp, const BroadcastPlan&, const uint8_t*, const uint8_t*, uint8_t*, int64_t, int64_t);

Result<PreparedNode> prepareBinaryElementwise(const NodeContext& ctx) {
  const std::string& opType = ctx.node.opType;
  BinaryOp op;
  if (opType == "Add") op = BinaryOp::Add;
  else if (opType == "Sub") op = BinaryOp::Sub;
  else if (opType == "Mul") op = BinaryOp::Mul;
  else if (opType == "Div") op = BinaryOp::Div;
  else return ctx.error("not a binary elementwise op");

  CLEAVE_TRY(requireInputCount(ctx, 2, 2));
  if (ctx.node.outputs.size() != 1) return ctx.error(fmt::format("expects 1 output, got {}", ctx.node.outputs.size()));
  CLEAVE_TRY(requireDType(ctx, 0, {DType::F32, DType::I32, DType::I64, DType::I8, DType::U8}));
  if (ctx.input(1).dtype != ctx.input(0).dtype)
    return ctx.error(fmt::format("input types differ: {} and {}", dtypeName(ctx.input(0).dtype),
                                 dtypeName(ctx.input(1).dtype)));
  // Legacy (opset < 7) `broadcast`/`axis` attributes are not supported: we serve opset 11+ only.
  if (ctx.attributes().has("axis") || ctx.attributes().has("broadcast"))
    return ctx.error("legacy broadcast/axis attributes (opset < 7) are not supported");
  Result<Shape> shape = broadcastShapes(ctx, ctx.input(0).shape, ctx.input(1).shape);
  if (!shape) return shape.error();

  PreparedNode prepared;
  prepared.outputTypes = {TensorType{ctx.input(0).dtype, *shape}};
  prepared.macs = shapeNumel(*shape);
  prepared.opClass = OpClass::Elementwise;
  prepared.layoutAgnostic = ctx.input(0).shape == *shape && ctx.input(1).shape == *shape;
  auto plan = std::make_shared<const BroadcastPlan>(planBroadcast(ctx.input(0).shape, ctx.input(1).shape, *shape));
  prepared.kernel = makeKernel([op, plan](std::span<const Tensor> inputs, std::span<Tensor> outputs,
                                          const RunContext& run) {
    runAny(op, *plan, inputs[0], inputs[1], outputs[0], run);
  });
  if (ctx.constant(0) && ctx.constant(1) && prepared.macs <= MAX_EAGER_ELEMENTS) {
    Tensor out = Tensor::zeros(prepared.outputTypes[0]);
    runAny(op, *plan, *ctx.constant(0), *ctx.constant(1), out, RunContext{});
    prepared.constantOutputs = std::vector<Tensor>{out};
  }
  return prepared;
}

}  // namespace cleave

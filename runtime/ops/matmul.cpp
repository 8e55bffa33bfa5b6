#include "runtime/ops/matmul.h"

#include <algorithm>

#include <fmt/format.h>
// GCC 12 false -Wmaybe-uninitialized inside its AVX-512 intrinsics as Eigen inlines them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop

#include "runtime/ops/ops.h"

namespace cleave {

Result<MatMulPlan> planMatMul(const Shape& a, const Shape& b) {
  if (a.empty() || b.empty())
    return Error{fmt::format("MatMul needs operands of rank >= 1, got {} and {}", shapeString(a), shapeString(b))};
  Shape as = a, bs = b;
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  MatMulPlan plan;
  plan.m = as[as.size() - 2];
  plan.k = as.back();
  plan.n = bs.back();
  if (bs[bs.size() - 2] != plan.k)
    return Error{fmt::format("inner dims differ: A {} and B {}", shapeString(a), shapeString(b))};
  size_t batchRank = std::max(as.size(), bs.size()) - 2;
  // Batch dims right-aligned; 1 where an operand has fewer.
  Shape batchA(batchRank, 1), batchB(batchRank, 1), batch(batchRank);
  std::copy(as.begin(), as.end() - 2, batchA.begin() + static_cast<std::ptrdiff_t>(batchRank - (as.size() - 2)));
  std::copy(bs.begin(), bs.end() - 2, batchB.begin() + static_cast<std::ptrdiff_t>(batchRank - (bs.size() - 2)));
  for (size_t i = 0; i < batchRank; ++i) {
    if (batchA[i] != batchB[i] && batchA[i] != 1 && batchB[i] != 1)
      return Error{fmt::format("batch dims of A {} and B {} do not broadcast", shapeString(a), shapeString(b))};
    batch[i] = batchA[i] == 1 ? batchB[i] : batchA[i];
  }
  plan.outputShape = batch;
  if (a.size() > 1) plan.outputShape.push_back(plan.m);
  if (b.size() > 1) plan.outputShape.push_back(plan.n);

  int64_t batches = shapeNumel(batch);
  bool bShared = shapeNumel(batchB) == 1;
  plan.foldBatchIntoRows = bShared;  // A's batches are contiguous rows already
  plan.rowsWhenFolded = batches * plan.m;
  if (!plan.foldBatchIntoRows) {
    plan.offsetsA.resize(static_cast<size_t>(batches));
    plan.offsetsB.resize(static_cast<size_t>(batches));
    for (int64_t index = 0; index < batches; ++index) {
      int64_t offA = 0, offB = 0, strideA = plan.m * plan.k, strideB = plan.k * plan.n, rest = index;
      for (size_t i = batchRank; i-- > 0;) {
        int64_t coord = rest % batch[i];
        rest /= batch[i];
        if (batchA[i] != 1) offA += coord * strideA;
        if (batchB[i] != 1) offB += coord * strideB;
        strideA *= batchA[i];
        strideB *= batchB[i];
      }
      plan.offsetsA[static_cast<size_t>(index)] = offA;
      plan.offsetsB[static_cast<size_t>(index)] = offB;
    }
  }
  return plan;
}

namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstRowMap = Eigen::Map<const RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using RowMap = Eigen::Map<RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;

// Y[rows, n] = A[rows, k] * B[k, n] restricted to B's and Y's columns [col0, col1).
void product(const float* a, const float* b, float* y, int64_t rows, int64_t k, int64_t n, int64_t col0,
             int64_t col1) {
  ConstRowMap am(a, rows, k, Eigen::OuterStride<>(k));
  ConstRowMap bm(b + col0, k, col1 - col0, Eigen::OuterStride<>(n));
  RowMap ym(y + col0, rows, col1 - col0, Eigen::OuterStride<>(n));
  ym.noalias() = am * bm;
}

class MatMulKernel final : public Kernel {
 public:
  explicit MatMulKernel(MatMulPlan plan) : p_(std::move(plan)) {}

  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    const float* a = inputs[0].data<float>();
    const float* b = inputs[1].data<float>();
    float* y = outputs[0].data<float>();
    const int64_t m = p_.m, n = p_.n, k = p_.k;
    if (p_.foldBatchIntoRows) {
      int64_t rows = p_.rowsWhenFolded;
      // Split rows for threads, or columns for a vector-matrix product (one row).
      int64_t work = std::max<int64_t>(1, k * n);
      if (rows > 1) {
        ctx.parallelFor(rows, std::max<int64_t>(1, 32768 / work), [&](int64_t r0, int64_t r1) {
          product(a + r0 * k, b, y + r0 * n, r1 - r0, k, n, 0, n);
        });
      } else {
        ctx.parallelFor(n, std::max<int64_t>(16, 32768 / std::max<int64_t>(1, rows * k)),
                        [&](int64_t c0, int64_t c1) { product(a, b, y, rows, k, n, c0, c1); });
      }
      return;
    }
    int64_t batches = static_cast<int64_t>(p_.offsetsA.size());
    ctx.parallelFor(batches, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, m * n * k)), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        size_t s = static_cast<size_t>(i);
        product(a + p_.offsetsA[s], b + p_.offsetsB[s], y + i * m * n, m, k, n, 0, n);
      }
    });
  }

 private:
  MatMulPlan p_;
};

}  // namespace

Result<PreparedNode> prepareMatMul(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 2, 2));
  CLEAVE_TRY(requireDType(ctx, 0, {DType::F32}));
  CLEAVE_TRY(requireDType(ctx, 1, {DType::F32}));
  Result<MatMulPlan> plan = planMatMul(ctx.input(0).shape, ctx.input(1).shape);
  if (!plan) return ctx.error(plan.error().message);
  PreparedNode prepared;
  prepared.outputTypes = {TensorType{DType::F32, plan->outputShape}};
  prepared.macs = shapeNumel(plan->outputShape) * plan->k;
  prepared.opClass = OpClass::Gemm;
  prepared.kernel = std::make_unique<MatMulKernel>(std::move(*plan));
  return prepared;
}

}  // namespace cleave

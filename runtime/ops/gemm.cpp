#include "runtime/ops/gemm.h"

#include <algorithm>

#include <fmt/format.h>
// GCC 12 false -Wmaybe-uninitialized inside its AVX-512 intrinsics as Eigen inlines them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop

#include "runtime/ops/activation.h"
#include "runtime/ops/conv.h"
#include "runtime/ops/ops.h"

namespace cleave {

Result<GemmDims> gemmDims(const Shape& a, const Shape& b, bool transA, bool transB) {
  if (a.size() != 2) return Error{fmt::format("A has shape {}, expected rank 2", shapeString(a))};
  if (b.size() != 2) return Error{fmt::format("B has shape {}, expected rank 2", shapeString(b))};
  GemmDims d;
  d.m = transA ? a[1] : a[0];
  d.k = transA ? a[0] : a[1];
  int64_t kb = transB ? b[1] : b[0];
  d.n = transB ? b[0] : b[1];
  if (kb != d.k)
    return Error{fmt::format("inner dims differ: A {} (transA={}) and B {} (transB={})", shapeString(a), transA,
                             shapeString(b), transB)};
  return d;
}

namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstRowMap = Eigen::Map<const RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using RowMap = Eigen::Map<RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;

class GemmKernel final : public Kernel {
 public:
  GemmKernel(GemmDims dims, bool transA, bool transB, float alpha, float beta, Shape cShape, Activation activation)
      : d_(dims), transA_(transA), transB_(transB), alpha_(alpha), beta_(beta), cShape_(std::move(cShape)),
        activation_(activation) {}

  void run(std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& ctx) const override {
    const float* a = inputs[0].data<float>();
    const float* b = inputs[1].data<float>();
    const float* c = cShape_.empty() ? nullptr : inputs[2].data<float>();
    float* y = outputs[0].data<float>();
    const int64_t m = d_.m, n = d_.n, k = d_.k;
    // C's dims right-aligned against [M, N]; a dim of 1 (or a missing one) repeats.
    bool cRows = cShape_.size() == 2 && cShape_[0] == m && m != 1;
    bool cCols = !cShape_.empty() && cShape_.back() == n && n != 1;
    // Split N across threads: each part is an independent GEMM on a column block of op(B) and Y.
    int64_t minCols = std::max<int64_t>(16, 65536 / std::max<int64_t>(1, m * k));
    ctx.parallelFor(n, minCols, [&](int64_t col0, int64_t col1) {
      int64_t cols = col1 - col0;
      RowMap ym(y + col0, m, cols, Eigen::OuterStride<>(n));
      if (c && beta_ != 0.0f) {
        for (int64_t i = 0; i < m; ++i) {
          const float* cRow = c + (cRows ? i * cShape_.back() : 0);
          float* yRow = y + i * n + col0;
          if (cCols) {
            for (int64_t j = 0; j < cols; ++j) yRow[j] = beta_ * cRow[col0 + j];
          } else {
            std::fill(yRow, yRow + cols, beta_ * cRow[0]);
          }
        }
      } else {
        ym.setZero();
      }
      // op(A) is [M, K]; op(B)'s column block is [K, cols].
      ConstRowMap am(a, transA_ ? k : m, transA_ ? m : k, Eigen::OuterStride<>(transA_ ? m : k));
      if (transB_) {
        ConstRowMap bm(b + col0 * k, cols, k, Eigen::OuterStride<>(k));
        if (transA_) ym.noalias() += alpha_ * am.transpose() * bm.transpose();
        else ym.noalias() += alpha_ * am * bm.transpose();
      } else {
        ConstRowMap bm(b + col0, k, cols, Eigen::OuterStride<>(n));
        if (transA_) ym.noalias() += alpha_ * am.transpose() * bm;
        else ym.noalias() += alpha_ * am * bm;
      }
      if (activation_.kind != Activation::Kind::None)
        for (int64_t i = 0; i < m; ++i) activation_.applyInPlace(y + i * n + col0, cols);
    });
  }

 private:
  GemmDims d_;
  bool transA_, transB_;
  float alpha_, beta_;
  Shape cShape_;  // empty when C is absent
  Activation activation_;
};

}  // namespace

Result<PreparedNode> prepareGemm(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 2, 3));
  CLEAVE_TRY(requireDType(ctx, 0, {DType::F32}));
  CLEAVE_TRY(requireDType(ctx, 1, {DType::F32}));
  Result<int64_t> transA = ctx.attributes().getInt("transA", 0);
  if (!transA) return ctx.error(transA.error().message);
  Result<int64_t> transB = ctx.attributes().getInt("transB", 0);
  if (!transB) return ctx.error(transB.error().message);
  if ((*transA != 0 && *transA != 1) || (*transB != 0 && *transB != 1))
    return ctx.error(fmt::format("transA/transB must be 0 or 1, got {} and {}", *transA, *transB));
  Result<float> alpha = ctx.attributes().getFloat("alpha", 1.0f);
  if (!alpha) return ctx.error(alpha.error().message);
  Result<float> beta = ctx.attributes().getFloat("beta", 1.0f);
  if (!beta) return ctx.error(beta.error().message);
  Result<GemmDims> dims = gemmDims(ctx.input(0).shape, ctx.input(1).shape, *transA == 1, *transB == 1);
  if (!dims) return ctx.error(dims.error().message);
  Shape cShape;
  if (ctx.hasInput(2)) {
    CLEAVE_TRY(requireDType(ctx, 2, {DType::F32}));
    cShape = ctx.input(2).shape;
    if (cShape.empty()) cShape = {1};  // a scalar broadcasts like [1]
    bool ok = cShape.size() <= 2 && (cShape.back() == 1 || cShape.back() == dims->n) &&
              (cShape.size() < 2 || cShape[0] == 1 || cShape[0] == dims->m);
    if (!ok)
      return ctx.error(fmt::format("C has shape {}, which does not broadcast to [{}, {}]",
                                   shapeString(ctx.input(2).shape), dims->m, dims->n));
  }
  Activation activation;
  if (ctx.node.domain == "com.microsoft") {
    Result<Activation> a = parseFusedActivation(ctx.attributes());
    if (!a) return ctx.error(a.error().message);
    activation = *a;
  }
  PreparedNode prepared;
  prepared.outputTypes = {TensorType{DType::F32, {dims->m, dims->n}}};
  prepared.macs = dims->m * dims->n * dims->k;
  prepared.opClass = OpClass::Gemm;
  prepared.kernel = std::make_unique<GemmKernel>(*dims, *transA == 1, *transB == 1, *alpha, *beta, cShape, activation);
  return prepared;
}

}  // namespace cleave

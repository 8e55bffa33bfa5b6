// Plain reference Gemm and batched MatMul: triple loops with double accumulation, for testing
// the Eigen-based kernels.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/ops/activation.h"
#include "runtime/tensor.h"

namespace cleave::reference {

// Y[M,N] = alpha * op(A) * op(B) + beta * C, C given as [cRows, cCols] with cRows in {1, M} and
// cCols in {1, N} (null when absent), then the activation.
inline void gemm(const float* a, const float* b, const float* c, int64_t cRows, int64_t cCols, float* y, int64_t m,
                 int64_t n, int64_t k, bool transA, bool transB, float alpha, float beta,
                 const Activation& activation = {}) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        float av = transA ? a[p * m + i] : a[i * k + p];
        float bv = transB ? b[j * k + p] : b[p * n + j];
        acc += static_cast<double>(av) * static_cast<double>(bv);
      }
      double value = static_cast<double>(alpha) * acc;
      if (c) value += static_cast<double>(beta) * static_cast<double>(c[(cRows == 1 ? 0 : i) * cCols + (cCols == 1 ? 0 : j)]);
      y[i * n + j] = activation.apply(static_cast<float>(value));
    }
  }
}

// NumPy matmul of two float tensors (1-D operands and batch broadcasting included).
inline Tensor matmul(const Tensor& a, const Tensor& b) {
  Shape as = a.shape(), bs = b.shape();
  bool vecA = as.size() == 1, vecB = bs.size() == 1;
  if (vecA) as.insert(as.begin(), 1);
  if (vecB) bs.push_back(1);
  int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  size_t batchRank = std::max(as.size(), bs.size()) - 2;
  Shape batch(batchRank);
  for (size_t i = 0; i < batchRank; ++i) {
    int64_t da = i + as.size() - 2 >= batchRank ? as[i + as.size() - 2 - batchRank] : 1;
    int64_t db = i + bs.size() - 2 >= batchRank ? bs[i + bs.size() - 2 - batchRank] : 1;
    batch[i] = da == 1 ? db : da;
  }
  Shape out = batch;
  if (!vecA) out.push_back(m);
  if (!vecB) out.push_back(n);
  Tensor y = Tensor::zeros(DType::F32, out);
  int64_t batches = shapeNumel(batch);
  for (int64_t index = 0; index < batches; ++index) {
    // Offset of this batch index in A and B, with broadcast dims held at 0.
    int64_t offA = 0, offB = 0, strideA = m * k, strideB = k * n, rest = index;
    for (size_t i = batchRank; i-- > 0;) {
      int64_t coord = rest % batch[i];
      rest /= batch[i];
      int64_t ai = static_cast<int64_t>(i) - static_cast<int64_t>(batchRank) + static_cast<int64_t>(as.size()) - 2;
      int64_t bi = static_cast<int64_t>(i) - static_cast<int64_t>(batchRank) + static_cast<int64_t>(bs.size()) - 2;
      if (ai >= 0) {
        if (as[ai] != 1) offA += coord * strideA;
        strideA *= as[ai];
      }
      if (bi >= 0) {
        if (bs[bi] != 1) offB += coord * strideB;
        strideB *= bs[bi];
      }
    }
    gemm(a.data<float>() + offA, b.data<float>() + offB, nullptr, 1, 1, y.data<float>() + index * m * n, m, n, k,
         false, false, 1.0f, 0.0f);
  }
  return y;
}

}  // namespace cleave::reference

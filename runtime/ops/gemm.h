// Gemm (ONNX opsets 11-17): Y = alpha * op(A) * op(B) + beta * C with op = optional transpose and
// C broadcast one way to [M, N]; also com.microsoft FusedGemm, which adds an activation (see
// parseFusedActivation in conv.h). float32, computed with Eigen's GEMM.
#pragma once

#include "runtime/op.h"

namespace cleave {

// Shape facts of a validated Gemm node, for passes that rewrite Gemm (e.g. into MatMul + Add).
struct GemmDims {
  int64_t m = 0, n = 0, k = 0;
};

// Checks A's and B's ranks and that their inner dims agree under transA/transB.
Result<GemmDims> gemmDims(const Shape& a, const Shape& b, bool transA, bool transB);

}  // namespace cleave

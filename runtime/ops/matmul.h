// MatMul (ONNX opsets 11-17) with NumPy semantics: 1-D operands are promoted (and the added dim
// dropped from the result), leading batch dims broadcast. float32, via Eigen's GEMM.
#pragma once

#include <vector>

#include "runtime/op.h"

namespace cleave {

// The product's geometry: each of `batches` output matrices [m, n] reads A at offsetsA[i] and B
// at offsetsB[i] (in elements), so broadcast operands are read in place, never copied.
struct MatMulPlan {
  int64_t m = 0, n = 0, k = 0;
  Shape outputShape;
  std::vector<int64_t> offsetsA, offsetsB;
  // B is one matrix shared by every batch and A is contiguous: the whole product is one GEMM
  // of [batches * m, k] by [k, n].
  bool foldBatchIntoRows = false;
  int64_t rowsWhenFolded = 0;  // batches * m
};

Result<MatMulPlan> planMatMul(const Shape& a, const Shape& b);

}  // namespace cleave

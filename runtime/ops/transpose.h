// Transpose: permutes the dimensions (default: reverses them). The kernel is a strided copy, which
// merges dimensions that stay adjacent and tiles NCHW<->NHWC-like permutations.
#pragma once

#include <span>
#include <vector>

#include "runtime/op.h"
#include "runtime/ops/ops.h"

namespace cleave {

// Checks that `perm` is a permutation of [0, rank).
Status checkPermutation(const std::vector<int64_t>& perm, size_t rank);
// out.shape[k] = in.shape[perm[k]]; `perm` must be valid.
Shape transposeShape(const Shape& input, std::span<const int64_t> perm);
// Fast kernel; `out` has transposeShape's shape and in's dtype.
void transpose(const Tensor& in, std::span<const int64_t> perm, Tensor& out, const RunContext& ctx);

}  // namespace cleave

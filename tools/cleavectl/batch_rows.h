// How many inputs of a model a .npy batch holds: the input's own shape (one), or [N] followed by
// the input's shape, or by the input's shape without its leading batch axis of 1.
#pragma once

#include <fmt/format.h>

#include <string>

#include "runtime/result.h"
#include "runtime/tensor.h"

namespace cleave::cli {

inline Result<int64_t> batchRows(const Tensor& batch, const TensorType& input, const std::string& file) {
  const Shape& shape = batch.shape();
  const Shape& row = input.shape;
  if (batch.dtype() == input.dtype && !shape.empty()) {
    if (shape == row) return int64_t{1};
    const Shape rest(shape.begin() + 1, shape.end());
    if (rest == row || (!row.empty() && row[0] == 1 && rest == Shape(row.begin() + 1, row.end()))) return shape[0];
  }
  return Error{
      fmt::format("{}: holds {}; needs a batch [N, ...] of input {}", file, batch.type().toString(), input.toString())};
}

}  // namespace cleave::cli

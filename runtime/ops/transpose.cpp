#include "runtime/ops/transpose.h"

#include <fmt/format.h>

#include "runtime/ops/data_movement.h"

namespace cleave {

Status checkPermutation(const std::vector<int64_t>& perm, size_t rank) {
  std::vector<bool> seen(rank, false);
  bool valid = perm.size() == rank;
  for (size_t k = 0; valid && k < perm.size(); ++k) {
    valid = perm[k] >= 0 && perm[k] < static_cast<int64_t>(rank) && !seen[static_cast<size_t>(perm[k])];
    if (valid) seen[static_cast<size_t>(perm[k])] = true;
  }
  if (!valid) return Error{fmt::format("perm [{}] is not a permutation of the {} input dimensions", fmt::join(perm, ","), rank)};
  return {};
}

Shape transposeShape(const Shape& input, std::span<const int64_t> perm) {
  Shape out(perm.size());
  for (size_t k = 0; k < perm.size(); ++k) out[k] = input[static_cast<size_t>(perm[k])];
  return out;
}

void transpose(const Tensor& in, std::span<const int64_t> perm, Tensor& out, const RunContext& ctx) {
  std::vector<int64_t> inStrides = contiguousStrides(in.shape());
  std::vector<int64_t> srcStrides(perm.size());
  for (size_t k = 0; k < perm.size(); ++k) srcStrides[k] = inStrides[static_cast<size_t>(perm[k])];
  copyStrided(in.raw(), out.raw(), dtypeSize(in.dtype()), out.shape(), srcStrides, contiguousStrides(out.shape()), ctx);
}

Result<PreparedNode> prepareTranspose(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 1, 1));
  const TensorType& input = ctx.input(0);
  size_t rank = input.shape.size();
  std::vector<int64_t> reversed(rank);
  for (size_t k = 0; k < rank; ++k) reversed[k] = static_cast<int64_t>(rank - 1 - k);
  Result<std::vector<int64_t>> perm = ctx.attributes().getInts("perm", reversed);
  if (!perm) return ctx.error(perm.error().message);
  Status valid = checkPermutation(*perm, rank);
  if (!valid) return ctx.error(valid.error().message);

  PreparedNode prepared;
  prepared.outputTypes = {TensorType{input.dtype, transposeShape(input.shape, *perm)}};
  // Data movement ops count one "MAC" per element written when the kernel has to run.
  prepared.macs = input.numel();
  prepared.opClass = OpClass::Other;
  prepared.kernel = makeKernel([perm = std::move(perm).value()](std::span<const Tensor> inputs,
                                                                 std::span<Tensor> outputs, const RunContext& run) {
    transpose(inputs[0], perm, outputs[0], run);
  });
  return prepared;
}

}  // namespace cleave

#include "runtime/ops/gather.h"

#include <cstring>

#include <fmt/format.h>

namespace cleave {
namespace {

int64_t indexAt(const Tensor& indices, int64_t j) {
  return indices.dtype() == DType::I64 ? indices.data<int64_t>()[j] : indices.data<int32_t>()[j];
}

}  // namespace

void gather(const Tensor& data, const Tensor& indices, size_t axis, Tensor& out, const RunContext& ctx) {
  int64_t outer = 1, inner = 1;
  for (size_t k = 0; k < axis; ++k) outer *= data.dim(k);
  for (size_t k = axis + 1; k < data.rank(); ++k) inner *= data.dim(k);
  int64_t axisDim = data.dim(axis);
  int64_t count = indices.numel();
  size_t rowBytes = static_cast<size_t>(inner) * dtypeSize(data.dtype());
  int64_t rb = static_cast<int64_t>(rowBytes);
  ctx.parallelFor(outer * count, std::max<int64_t>(1, 32 * 1024 / std::max<int64_t>(rb, 1)), [&](int64_t b, int64_t e) {
    for (int64_t unit = b; unit < e; ++unit) {
      int64_t o = unit / count, j = unit % count;
      int64_t index = indexAt(indices, j);
      if (index < 0) index += axisDim;
      std::byte* dst = out.raw() + unit * rb;
      if (index < 0 || index >= axisDim) {
        std::memset(dst, 0, rowBytes);  // prepare could not check run-time indices
      } else {
        std::memcpy(dst, data.raw() + (o * axisDim + index) * rb, rowBytes);
      }
    }
  });
}

Result<PreparedNode> prepareGather(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 2, 2));
  CLEAVE_TRY(requireDType(ctx, 1, {DType::I64, DType::I32}));
  const TensorType& data = ctx.input(0);
  if (dtypeSize(data.dtype) == 0) return ctx.error("data has an undefined type");
  if (data.shape.empty()) return ctx.error("data must have rank 1 or more");
  Result<int64_t> attr = ctx.attributes().getInt("axis", 0);
  if (!attr) return ctx.error(attr.error().message);
  Result<int64_t> axisResult = normalizeAxis(ctx, *attr, data.shape.size());
  if (!axisResult) return axisResult.error();
  size_t axis = static_cast<size_t>(*axisResult);
  int64_t axisDim = data.shape[axis];
  if (const Tensor* indices = ctx.constant(1)) {
    for (int64_t index : indices->toInt64s())
      if (index < -axisDim || index >= axisDim)
        return ctx.error(fmt::format("index {} is out of range for axis {} of size {}", index, axis, axisDim));
  }

  Shape shape(data.shape.begin(), data.shape.begin() + static_cast<int64_t>(axis));
  shape.insert(shape.end(), ctx.input(1).shape.begin(), ctx.input(1).shape.end());
  shape.insert(shape.end(), data.shape.begin() + static_cast<int64_t>(axis) + 1, data.shape.end());
  PreparedNode prepared;
  prepared.outputTypes = {TensorType{data.dtype, shape}};
  // Data movement ops count one "MAC" per element written when the kernel has to run.
  prepared.macs = shapeNumel(shape);
  prepared.opClass = OpClass::Other;
  prepared.kernel = makeKernel([axis](std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& run) {
    gather(inputs[0], inputs[1], axis, outputs[0], run);
  });
  return prepared;
}

}  // namespace cleave

#include "runtime/ops/cast.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include <fmt/format.h>

#include "runtime/ops/ops.h"

namespace cleave {
namespace {

// Storage of the dtypes whose C++ type is not the arithmetic type they mean.
struct HalfBits {
  uint16_t bits;
};
struct BoolByte {
  uint8_t byte;
};

// Storage -> the arithmetic value it holds.
template <class S>
auto load(S s) {
  if constexpr (std::is_same_v<S, HalfBits>) return halfToFloat(s.bits);
  else if constexpr (std::is_same_v<S, BoolByte>) return s.byte != 0;  // any nonzero byte is true
  else return s;
}

// Arithmetic value -> storage of type D.
template <class D, class V>
D store(V v) {
  if constexpr (std::is_same_v<D, BoolByte>) {
    return BoolByte{static_cast<uint8_t>(v != V{} ? 1 : 0)};
  } else if constexpr (std::is_same_v<D, HalfBits>) {
    return HalfBits{floatToHalf(static_cast<float>(v))};
  } else if constexpr (std::is_integral_v<D> && std::is_floating_point_v<V>) {
    // static_cast of an out-of-range float is undefined behaviour; saturate instead.
    if (std::isnan(v)) return D{0};
    if (v >= static_cast<V>(std::numeric_limits<D>::max())) return std::numeric_limits<D>::max();
    if (v <= static_cast<V>(std::numeric_limits<D>::min())) return std::numeric_limits<D>::min();
    return static_cast<D>(v);
  } else {
    return static_cast<D>(v);
  }
}

template <class S, class D>
void convertTyped(const std::byte* src, std::byte* dst, int64_t count) {
  for (int64_t i = 0; i < count; ++i) {
    S s;
    std::memcpy(&s, src + i * static_cast<int64_t>(sizeof(S)), sizeof(S));
    D d = store<D>(load(s));
    std::memcpy(dst + i * static_cast<int64_t>(sizeof(D)), &d, sizeof(D));
  }
}

template <class S>
void convertFrom(const std::byte* src, std::byte* dst, DType to, int64_t count) {
  switch (to) {
    case DType::F32: return convertTyped<S, float>(src, dst, count);
    case DType::F16: return convertTyped<S, HalfBits>(src, dst, count);
    case DType::I8: return convertTyped<S, int8_t>(src, dst, count);
    case DType::U8: return convertTyped<S, uint8_t>(src, dst, count);
    case DType::I32: return convertTyped<S, int32_t>(src, dst, count);
    case DType::I64: return convertTyped<S, int64_t>(src, dst, count);
    case DType::Bool: return convertTyped<S, BoolByte>(src, dst, count);
    case DType::Undefined: return;
  }
}

// ONNX TensorProto.DataType codes of the types Cast may target.
struct CastTarget {
  int64_t code;
  std::string_view onnxName;
  DType dtype;  // Undefined: a type cleave has no storage for
};
constexpr CastTarget CAST_TARGETS[] = {
    {1, "FLOAT", DType::F32},      {2, "UINT8", DType::U8},        {3, "INT8", DType::I8},
    {4, "UINT16", DType::Undefined}, {5, "INT16", DType::Undefined}, {6, "INT32", DType::I32},
    {7, "INT64", DType::I64},      {8, "STRING", DType::Undefined}, {9, "BOOL", DType::Bool},
    {10, "FLOAT16", DType::F16},   {11, "DOUBLE", DType::Undefined}, {12, "UINT32", DType::Undefined},
    {13, "UINT64", DType::Undefined}, {14, "COMPLEX64", DType::Undefined},
    {15, "COMPLEX128", DType::Undefined}, {16, "BFLOAT16", DType::Undefined},
};

}  // namespace

void convertElements(const std::byte* src, DType from, std::byte* dst, DType to, int64_t count) {
  if (count <= 0) return;
  if (from == to) {
    std::memcpy(dst, src, static_cast<size_t>(count) * dtypeSize(from));
    return;
  }
  switch (from) {
    case DType::F32: return convertFrom<float>(src, dst, to, count);
    case DType::F16: return convertFrom<HalfBits>(src, dst, to, count);
    case DType::I8: return convertFrom<int8_t>(src, dst, to, count);
    case DType::U8: return convertFrom<uint8_t>(src, dst, to, count);
    case DType::I32: return convertFrom<int32_t>(src, dst, to, count);
    case DType::I64: return convertFrom<int64_t>(src, dst, to, count);
    case DType::Bool: return convertFrom<BoolByte>(src, dst, to, count);
    case DType::Undefined: return;
  }
}

Result<PreparedNode> prepareCast(const NodeContext& ctx) {
  CLEAVE_TRY(requireInputCount(ctx, 1, 1));
  DType from = ctx.input(0).dtype;
  if (dtypeSize(from) == 0) return ctx.error(fmt::format("input has unsupported type {}", dtypeName(from)));
  if (!ctx.attributes().has("to")) return ctx.error("attribute 'to' is required");
  Result<int64_t> code = ctx.attributes().getInt("to", 0);
  if (!code) return ctx.error(code.error().message);
  DType to = DType::Undefined;
  std::string_view name = "unknown";
  for (const CastTarget& target : CAST_TARGETS)
    if (target.code == *code) {
      to = target.dtype;
      name = target.onnxName;
    }
  if (to == DType::Undefined)
    return ctx.error(fmt::format("cannot cast to {} (ONNX type code {}); supported: FLOAT, FLOAT16, INT8, UINT8, "
                                 "INT32, INT64, BOOL",
                                 name, *code));

  PreparedNode prepared;
  prepared.outputTypes = {TensorType{to, ctx.input(0).shape}};
  // Data movement ops count one "MAC" per element written when the kernel has to run.
  prepared.macs = ctx.input(0).numel();
  prepared.opClass = OpClass::Other;
  prepared.kernel = makeKernel([from, to](std::span<const Tensor> inputs, std::span<Tensor> outputs, const RunContext& run) {
    const Tensor& in = inputs[0];
    Tensor& out = outputs[0];
    int64_t sizeIn = static_cast<int64_t>(dtypeSize(from)), sizeOut = static_cast<int64_t>(dtypeSize(to));
    run.parallelFor(in.numel(), 16 * 1024, [&](int64_t b, int64_t e) {
      convertElements(in.raw() + b * sizeIn, from, out.raw() + b * sizeOut, to, e - b);
    });
  });
  return prepared;
}

}  // namespace cleave

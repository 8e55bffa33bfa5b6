#include "runtime/tensor.h"

#include <cassert>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include <fmt/format.h>

namespace cleave {

size_t dtypeSize(DType dtype) {
  switch (dtype) {
    case DType::Undefined: return 0;
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::I8: return 1;
    case DType::U8: return 1;
    case DType::I32: return 4;
    case DType::I64: return 8;
    case DType::Bool: return 1;
  }
  return 0;
}

std::string_view dtypeName(DType dtype) {
  switch (dtype) {
    case DType::Undefined: return "undefined";
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::I8: return "int8";
    case DType::U8: return "uint8";
    case DType::I32: return "int32";
    case DType::I64: return "int64";
    case DType::Bool: return "bool";
  }
  return "?";
}

int64_t shapeNumel(const Shape& shape) {
  // Saturates rather than overflow: an op's prepare may infer an absurd shape from a hostile
  // model's constants and count it before analyzeGraph refuses the shape (MAX_VALUE_ELEMENTS).
  int64_t n = 1;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n)) return std::numeric_limits<int64_t>::max();
  return n;
}

std::string shapeString(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ",")); }

std::string TensorType::toString() const {
  return fmt::format("{}{}", dtypeName(dtype), shapeString(shape));
}

Tensor Tensor::zeros(DType dtype, Shape shape) {
  Tensor t = uninitialized(dtype, std::move(shape));
  std::memset(t.data_, 0, static_cast<size_t>(t.bytes()));
  return t;
}

Tensor Tensor::uninitialized(DType dtype, Shape shape) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  // The slack after the last element lets fast kernels (XNNPACK) load whole vectors at the tail.
  size_t bytes = t.bytes() + TENSOR_READ_SLACK;
  size_t rounded = (bytes + TENSOR_ALIGNMENT - 1) / TENSOR_ALIGNMENT * TENSOR_ALIGNMENT;
  void* memory = std::aligned_alloc(TENSOR_ALIGNMENT, rounded);
  if (memory == nullptr) throw std::bad_alloc();
  std::memset(static_cast<std::byte*>(memory) + t.bytes(), 0, rounded - static_cast<size_t>(t.bytes()));
  t.owner_ = std::shared_ptr<std::byte>(static_cast<std::byte*>(memory), [](std::byte* p) { std::free(p); });
  t.data_ = t.owner_.get();
  return t;
}

Tensor Tensor::view(DType dtype, Shape shape, std::shared_ptr<std::byte> owner, std::byte* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.owner_ = std::move(owner);
  t.data_ = data;
  return t;
}

Tensor Tensor::reshaped(Shape shape) const {
  assert(shapeNumel(shape) == numel());
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = zeros(dtype_, shape_);
  if (bytes() > 0) std::memcpy(t.data_, data_, bytes());
  return t;
}

std::vector<int64_t> Tensor::toInt64s() const {
  std::vector<int64_t> out(static_cast<size_t>(numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    switch (dtype_) {
      case DType::I64: out[i] = data<int64_t>()[i]; break;
      case DType::I32: out[i] = data<int32_t>()[i]; break;
      case DType::I8: out[i] = data<int8_t>()[i]; break;
      case DType::U8: out[i] = data<uint8_t>()[i]; break;
      case DType::Bool: out[i] = data<bool>()[i] ? 1 : 0; break;
      case DType::F32: out[i] = static_cast<int64_t>(data<float>()[i]); break;
      case DType::F16: out[i] = static_cast<int64_t>(halfToFloat(data<uint16_t>()[i])); break;
      case DType::Undefined: break;
    }
  }
  return out;
}

std::vector<float> Tensor::toFloats() const {
  std::vector<float> out(static_cast<size_t>(numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    switch (dtype_) {
      case DType::F32: out[i] = data<float>()[i]; break;
      case DType::F16: out[i] = halfToFloat(data<uint16_t>()[i]); break;
      case DType::I64: out[i] = static_cast<float>(data<int64_t>()[i]); break;
      case DType::I32: out[i] = static_cast<float>(data<int32_t>()[i]); break;
      case DType::I8: out[i] = data<int8_t>()[i]; break;
      case DType::U8: out[i] = data<uint8_t>()[i]; break;
      case DType::Bool: out[i] = data<bool>()[i] ? 1.0f : 0.0f; break;
      case DType::Undefined: break;
    }
  }
  return out;
}

bool Tensor::identical(const Tensor& other) const {
  return dtype_ == other.dtype_ && shape_ == other.shape_ &&
         (bytes() == 0 || std::memcmp(data_, other.data_, bytes()) == 0);
}

float halfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: renormalise
      exponent = 127 - 15 + 1;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        --exponent;
      }
      mantissa &= 0x3ffu;
      bits = sign | (exponent << 23) | (mantissa << 13);
    }
  } else if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

uint16_t floatToHalf(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  uint32_t sign = (bits >> 16) & 0x8000u;
  int32_t exponent = static_cast<int32_t>((bits >> 23) & 0xffu) - 127 + 15;
  uint32_t mantissa = bits & 0x7fffffu;
  if (((bits >> 23) & 0xffu) == 0xffu) return static_cast<uint16_t>(sign | 0x7c00u | (mantissa ? 0x200u : 0));
  if (exponent >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00u);
  if (exponent <= 0) {
    if (exponent < -10) return static_cast<uint16_t>(sign);
    mantissa |= 0x800000u;
    uint32_t shift = static_cast<uint32_t>(14 - exponent);
    uint32_t half = mantissa >> shift;
    uint32_t rest = mantissa & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | (static_cast<uint32_t>(exponent) << 10) | (mantissa >> 13);
  uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // round to nearest even
  return static_cast<uint16_t>(half);
}

}  // namespace cleave

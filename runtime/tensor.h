// Tensor: a dtype, a shape and a view into 64-byte-aligned storage shared by reference, so
// reshapes and arena-backed activations are cheap views rather than copies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/result.h"

namespace cleave {

enum class DType : uint8_t { Undefined, F32, F16, I8, U8, I32, I64, Bool };

size_t dtypeSize(DType dtype);
std::string_view dtypeName(DType dtype);

using Shape = std::vector<int64_t>;

// Number of elements of a shape (1 for a scalar).
int64_t shapeNumel(const Shape& shape);
std::string shapeString(const Shape& shape);

// Static type of a value in a graph: dtype and fully known shape.
struct TensorType {
  DType dtype = DType::Undefined;
  Shape shape;

  bool defined() const { return dtype != DType::Undefined; }
  int64_t numel() const { return shapeNumel(shape); }
  int64_t bytes() const { return numel() * static_cast<int64_t>(dtypeSize(dtype)); }
  std::string toString() const;
  bool operator==(const TensorType&) const = default;
};

template <class T>
constexpr DType dtypeOf();
template <> constexpr DType dtypeOf<float>() { return DType::F32; }
template <> constexpr DType dtypeOf<int8_t>() { return DType::I8; }
template <> constexpr DType dtypeOf<uint8_t>() { return DType::U8; }
template <> constexpr DType dtypeOf<int32_t>() { return DType::I32; }
template <> constexpr DType dtypeOf<int64_t>() { return DType::I64; }
template <> constexpr DType dtypeOf<bool>() { return DType::Bool; }

constexpr size_t TENSOR_ALIGNMENT = 64;
// Bytes of readable (zeroed) memory every fresh tensor has past its last element.
constexpr size_t TENSOR_READ_SLACK = 16;

class Tensor {
 public:
  Tensor() = default;

  // Fresh, zero-filled, aligned storage.
  static Tensor zeros(DType dtype, Shape shape);
  // Storage the caller overwrites entirely before anything reads it (a received frame copied in):
  // skips zeroing the elements, which costs as much as the copy for large tensors. The alignment
  // padding after the last element is still zeroed.
  static Tensor uninitialized(DType dtype, Shape shape);
  static Tensor zeros(const TensorType& type) { return zeros(type.dtype, type.shape); }
  // A tensor over memory someone else owns (an arena); `owner` keeps it alive.
  static Tensor view(DType dtype, Shape shape, std::shared_ptr<std::byte> owner, std::byte* data);
  template <class T>
  static Tensor fromVector(Shape shape, const std::vector<T>& values);
  template <class T>
  static Tensor scalar(T value) { return fromVector<T>({}, {value}); }

  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  TensorType type() const { return {dtype_, shape_}; }
  size_t rank() const { return shape_.size(); }
  int64_t dim(size_t axis) const { return shape_[axis]; }
  int64_t numel() const { return shapeNumel(shape_); }
  size_t bytes() const { return static_cast<size_t>(numel()) * dtypeSize(dtype_); }
  bool empty() const { return data_ == nullptr && dtype_ == DType::Undefined; }

  // Same storage, new shape with the same element count (debug-checked).
  Tensor reshaped(Shape shape) const;
  // A deep copy in fresh storage.
  Tensor clone() const;

  std::byte* raw() { return data_; }
  const std::byte* raw() const { return data_; }
  template <class T>
  T* data() { return reinterpret_cast<T*>(data_); }
  template <class T>
  const T* data() const { return reinterpret_cast<const T*>(data_); }
  template <class T>
  std::span<T> values() { return {data<T>(), static_cast<size_t>(numel())}; }
  template <class T>
  std::span<const T> values() const { return {data<T>(), static_cast<size_t>(numel())}; }

  // Integer contents (i32/i64/u8/i8/bool) widened to int64, for shape-like inputs.
  std::vector<int64_t> toInt64s() const;
  // Float contents (f32/f16 widened) as float.
  std::vector<float> toFloats() const;

  // True when dtype, shape and bytes are all equal.
  bool identical(const Tensor& other) const;

 private:
  DType dtype_ = DType::Undefined;
  Shape shape_;
  std::shared_ptr<std::byte> owner_;
  std::byte* data_ = nullptr;
};

template <class T>
Tensor Tensor::fromVector(Shape shape, const std::vector<T>& values) {
  Tensor t = zeros(dtypeOf<T>(), std::move(shape));
  if constexpr (std::is_same_v<T, bool>) {
    for (size_t i = 0; i < values.size(); ++i) t.data<bool>()[i] = values[i];
  } else {
    std::copy(values.begin(), values.end(), t.data<T>());
  }
  return t;
}

// Half precision conversions (IEEE 754 binary16), used for f16 initializers and quantisation.
float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);

}  // namespace cleave

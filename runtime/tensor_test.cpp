#include "runtime/tensor.h"

#include <cmath>
#include <cstring>

#include <doctest/doctest.h>

using namespace cleave;

TEST_CASE("storage is 64-byte aligned and zero-filled, for every dtype") {
  for (DType d : {DType::F32, DType::F16, DType::I8, DType::U8, DType::I32, DType::I64, DType::Bool}) {
    Tensor t = Tensor::zeros(d, {3, 5, 7});
    CHECK(reinterpret_cast<uintptr_t>(t.raw()) % TENSOR_ALIGNMENT == 0);
    CHECK(t.bytes() == 105 * dtypeSize(d));
    for (size_t i = 0; i < t.bytes(); ++i) CHECK(t.raw()[i] == std::byte{0});
  }
}

TEST_CASE("reshape is a view: same storage, new shape; clone is a copy") {
  Tensor t = Tensor::fromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor view = t.reshaped({3, 2});
  CHECK(view.raw() == t.raw());
  CHECK(view.shape() == Shape{3, 2});
  view.data<float>()[5] = 60.0f;
  CHECK(t.data<float>()[5] == 60.0f);
  Tensor copy = t.clone();
  CHECK(copy.raw() != t.raw());
  CHECK(copy.identical(t));
  copy.data<float>()[0] = -1.0f;
  CHECK_FALSE(copy.identical(t));
}

TEST_CASE("a scalar has one element and an empty shape") {
  Tensor s = Tensor::scalar<int64_t>(42);
  CHECK(s.rank() == 0);
  CHECK(s.numel() == 1);
  CHECK(s.toInt64s() == std::vector<int64_t>{42});
}

TEST_CASE("float16 conversions agree with IEEE 754 binary16 bit patterns") {
  // Reference bit patterns from the IEEE 754 binary16 definition (as numpy.float16 prints them).
  struct Case {
    float value;
    uint16_t bits;
  } cases[] = {{0.0f, 0x0000},      {-0.0f, 0x8000},   {1.0f, 0x3c00},       {-2.0f, 0xc000},
               {65504.0f, 0x7bff},  {0.5f, 0x3800},    {6.103515625e-05f, 0x0400},  // smallest normal
               {5.960464477539063e-08f, 0x0001},  // smallest subnormal
               {0.1f, 0x2e66},      {1e6f, 0x7c00}};  // overflow rounds to infinity
  for (const Case& c : cases) {
    CAPTURE(c.value);
    CHECK(floatToHalf(c.value) == c.bits);
    if (c.bits != 0x7c00) CHECK(halfToFloat(c.bits) == doctest::Approx(c.value).epsilon(1e-3));
  }
  CHECK(std::isinf(halfToFloat(0x7c00)));
  CHECK(std::isnan(halfToFloat(0x7e00)));
  // Every finite half survives the round trip exactly.
  for (uint32_t bits = 0; bits < 0x7c00; ++bits) CHECK(floatToHalf(halfToFloat(static_cast<uint16_t>(bits))) == bits);
}

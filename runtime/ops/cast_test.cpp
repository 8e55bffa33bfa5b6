#include "runtime/ops/cast.h"

#include <cmath>
#include <limits>

#include <doctest/doctest.h>

#include "runtime/ops/shape_test_util.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("Cast matches ONNX's test data for the types cleave has") {
  checkOnnxNodeCase("test_cast_FLOAT_to_FLOAT16");
  checkOnnxNodeCase("test_cast_FLOAT16_to_FLOAT");
}

namespace {
Attributes toAttr(int64_t code) {
  Attributes attrs;
  attrs.set("to", code);
  return attrs;
}
Tensor castTo(const Tensor& in, int64_t code) {
  Result<std::vector<Tensor>> out = runNode(makeNode("Cast", 1, 1, toAttr(code)), {in});
  REQUIRE_MESSAGE(out.ok(), (out.ok() ? "" : out.error().message));
  return (*out)[0];
}
constexpr int64_t FLOAT = 1, UINT8 = 2, INT8 = 3, INT32 = 6, INT64 = 7, BOOL = 9, FLOAT16 = 10;
}  // namespace

TEST_CASE("Cast float to integers truncates toward zero and saturates") {
  float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  Tensor in = Tensor::fromVector<float>({8}, {-2.7f, 2.7f, 300.5f, -300.5f, nan, inf, -inf, 0.0f});
  CHECK(castTo(in, INT32).identical(Tensor::fromVector<int32_t>(
      {8}, {-2, 2, 300, -300, 0, std::numeric_limits<int32_t>::max(), std::numeric_limits<int32_t>::min(), 0})));
  CHECK(castTo(in, INT8).identical(Tensor::fromVector<int8_t>({8}, {-2, 2, 127, -128, 0, 127, -128, 0})));
  CHECK(castTo(in, UINT8).identical(Tensor::fromVector<uint8_t>({8}, {0, 2, 255, 0, 0, 255, 0, 0})));
  CHECK(castTo(in, INT64).identical(Tensor::fromVector<int64_t>(
      {8}, {-2, 2, 300, -300, 0, std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(), 0})));
  CHECK(castTo(in, BOOL).identical(Tensor::fromVector<bool>({8}, {true, true, true, true, true, true, true, false})));
}

TEST_CASE("Cast between integers, bool and halves") {
  Tensor i64 = Tensor::fromVector<int64_t>({4}, {-1, 0, 256 + 7, 70000});
  CHECK(castTo(i64, INT8).identical(Tensor::fromVector<int8_t>({4}, {-1, 0, 7, 112})));  // wraps like static_cast
  CHECK(castTo(i64, UINT8).identical(Tensor::fromVector<uint8_t>({4}, {255, 0, 7, 112})));
  CHECK(castTo(i64, FLOAT).identical(Tensor::fromVector<float>({4}, {-1, 0, 263, 70000})));
  CHECK(castTo(i64, BOOL).identical(Tensor::fromVector<bool>({4}, {true, false, true, true})));
  Tensor half = castTo(i64, FLOAT16);
  CHECK(half.dtype() == DType::F16);
  CHECK(half.data<uint16_t>()[0] == floatToHalf(-1.0f));
  CHECK(half.data<uint16_t>()[3] == 0x7c00);  // 70000 overflows half: +inf
  CHECK(castTo(half, INT32).identical(Tensor::fromVector<int32_t>({4}, {-1, 0, 263, std::numeric_limits<int32_t>::max()})));
  Tensor flags = Tensor::fromVector<bool>({2}, {true, false});
  CHECK(castTo(flags, FLOAT).identical(Tensor::fromVector<float>({2}, {1, 0})));
  CHECK(castTo(flags, INT64).identical(Tensor::fromVector<int64_t>({2}, {1, 0})));
  CHECK(castTo(castTo(flags, FLOAT16), FLOAT).identical(Tensor::fromVector<float>({2}, {1, 0})));
}

TEST_CASE("Cast round-trips every dtype pair it can represent exactly") {
  for (DType from : ALL_DTYPES) {
    Tensor small = Tensor::fromVector<int64_t>({5}, {0, 1, 5, 100, 127});
    if (from == DType::Bool) small = Tensor::fromVector<int64_t>({5}, {0, 1, 1, 0, 1});
    std::byte buffer[5 * 8];
    convertElements(small.raw(), DType::I64, buffer, from, 5);
    for (DType to : ALL_DTYPES) {
      if (to == DType::Bool && from != DType::Bool) continue;  // bool loses the values
      CAPTURE(dtypeName(from));
      CAPTURE(dtypeName(to));
      std::byte there[5 * 8], back[5 * 8];
      convertElements(buffer, from, there, to, 5);
      convertElements(there, to, back, from, 5);
      CHECK(std::memcmp(buffer, back, 5 * dtypeSize(from)) == 0);
    }
  }
}

TEST_CASE("Cast rejects types cleave has no storage for") {
  Tensor in = iotaTensor(DType::F32, {2});
  CHECK(prepareError(makeNode("Cast", 1, 1, toAttr(8)), {in}).find("STRING") != std::string::npos);
  CHECK(prepareError(makeNode("Cast", 1, 1, toAttr(11)), {in}).find("DOUBLE") != std::string::npos);
  CHECK(prepareError(makeNode("Cast", 1, 1, toAttr(99)), {in}).find("99") != std::string::npos);
  CHECK(prepareError(makeNode("Cast", 1), {in}).find("'to' is required") != std::string::npos);
  if (std::filesystem::exists(ONNX_NODE_TESTS / "test_cast_FLOAT_to_STRING")) {
    // The importer may already refuse the string-typed output; either way it is an error.
    Result<OnnxNodeCase> c = loadOnnxNodeCase("test_cast_FLOAT_to_STRING");
    if (c.ok()) CHECK(prepareError(c->node, c->inputs, {}, c->opset).find("STRING") != std::string::npos);
  }
}

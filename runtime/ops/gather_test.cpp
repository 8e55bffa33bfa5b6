#include "runtime/ops/gather.h"

#include <doctest/doctest.h>

#include "runtime/ops/shape_test_util.h"
#include "runtime/thread_pool.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("Gather matches ONNX's test data, with run-time and constant indices") {
  for (const char* name : {"test_gather_0", "test_gather_1", "test_gather_2d_indices", "test_gather_negative_indices"}) {
    checkOnnxNodeCase(name);
    checkOnnxNodeCase(name, {1});
  }
}


TEST_CASE("Gather picks rows of every dtype with int32 and int64 indices") {
  for (DType dtype : ALL_DTYPES) {
    CAPTURE(dtypeName(dtype));
    Tensor data = iotaTensor(dtype, {2, 3, 2});
    size_t es = dtypeSize(dtype);
    for (Tensor indices : {Tensor::fromVector<int64_t>({2, 2}, {2, -3, 1, 2}), Tensor::fromVector<int32_t>({2, 2}, {2, -3, 1, 2})}) {
      Result<std::vector<Tensor>> out = runNode(makeNode("Gather", 2, 1, axisAttr(1)), {data, indices});
      REQUIRE(out.ok());
      const Tensor& o = (*out)[0];
      REQUIRE(o.shape() == Shape{2, 2, 2, 2});
      int64_t picks[] = {2, 0, 1, 2};
      for (int64_t n = 0; n < 2; ++n)
        for (int64_t j = 0; j < 4; ++j)
          CHECK(std::memcmp(o.raw() + (n * 4 + j) * 2 * es, data.raw() + (n * 3 + picks[j]) * 2 * es, 2 * es) == 0);
    }
  }
  // A scalar index removes the axis.
  Result<std::vector<Tensor>> out =
      runNode(makeNode("Gather", 2, 1, axisAttr(-1)), {iotaTensor(DType::F32, {2, 3}), Tensor::scalar<int64_t>(2)});
  REQUIRE(out.ok());
  CHECK((*out)[0].identical(Tensor::fromVector<float>({2}, {2, 5})));
}

TEST_CASE("Gather checks constant indices at prepare and writes zeros for bad run-time ones") {
  Tensor data = iotaTensor(DType::F32, {3, 2});
  Tensor bad = i64s({0, 3, -4, 2});
  CHECK(prepareError(makeNode("Gather", 2), {data, bad}, {1}).find("index 3 is out of range") != std::string::npos);
  Result<std::vector<Tensor>> out = runNode(makeNode("Gather", 2), {data, bad});
  REQUIRE(out.ok());
  CHECK((*out)[0].identical(Tensor::fromVector<float>({4, 2}, {0, 1, 0, 0, 0, 0, 4, 5})));
  CHECK(prepareError(makeNode("Gather", 2), {data, Tensor::fromVector<float>({1}, {0})}).find("type") != std::string::npos);
  CHECK(prepareError(makeNode("Gather", 2, 1, axisAttr(2)), {data, i64s({0})}).find("out of range") != std::string::npos);
  CHECK(prepareError(makeNode("Gather", 2), {Tensor::scalar<float>(1.0f), i64s({0})}).find("rank") != std::string::npos);
}

TEST_CASE("Gather threaded equals serial") {
  ThreadPool pool(2);
  Tensor data = randomTensor({64, 300, 8}, 11);
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < 500; ++i) idx.push_back((i * 37) % 300 - 150);
  Tensor indices = i64s(idx);
  Tensor serial = Tensor::zeros(DType::F32, {64, 500, 8}), threaded = Tensor::zeros(DType::F32, {64, 500, 8});
  gather(data, indices, 1, serial, RunContext{});
  gather(data, indices, 1, threaded, RunContext{&pool});
  CHECK(serial.identical(threaded));
  CHECK(serial.data<float>()[8] == data.data<float>()[(300 - 150 + 37) * 8]);
}

#include "runtime/ops/transpose.h"

#include <algorithm>
#include <chrono>
#include <numeric>
#include <random>

#include <doctest/doctest.h>

#include "runtime/ops/reference/transpose.h"
#include "runtime/ops/shape_test_util.h"
#include "runtime/thread_pool.h"

using namespace cleave;
using namespace cleave::testing;

TEST_CASE("Transpose matches ONNX's test data") {
  for (int i = 0; i < 6; ++i) checkOnnxNodeCase(fmt::format("test_transpose_all_permutations_{}", i));
  checkOnnxNodeCase("test_transpose_default");
}

TEST_CASE("reference Transpose matches a hand-computed case") {
  Tensor in = Tensor::fromVector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor out = Tensor::zeros(DType::F32, {3, 2});
  std::vector<int64_t> perm = {1, 0};
  reference::transpose(in, perm, out);
  CHECK(out.identical(Tensor::fromVector<float>({3, 2}, {1, 4, 2, 5, 3, 6})));
}

TEST_CASE("fast Transpose equals the reference on random shapes, perms and dtypes") {
  std::mt19937 rng(1234);
  std::vector<Shape> shapes = {{7},          {3, 5},       {1, 16, 17, 1}, {2, 3, 4, 5},   {1, 32, 9, 11},
                               {1, 13, 7, 33}, {2, 1, 3, 1, 4}, {3, 2, 5, 2, 3, 2}, {1, 40, 40}, {17, 19}};
  for (const Shape& shape : shapes) {
    std::vector<int64_t> perm(shape.size());
    for (int trial = 0; trial < 6; ++trial) {
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), rng);
      for (DType dtype : ALL_DTYPES) {
        CAPTURE(shapeString(shape));
        CAPTURE(shapeString(perm));
        CAPTURE(dtypeName(dtype));
        Tensor in = iotaTensor(dtype, shape);
        Tensor want = Tensor::zeros(dtype, transposeShape(shape, perm));
        reference::transpose(in, perm, want);
        Tensor got = Tensor::zeros(dtype, want.shape());
        transpose(in, perm, got, RunContext{});
        CHECK(got.identical(want));
      }
    }
  }
}

TEST_CASE("Transpose NCHW<->NHWC takes the tiled path, also threaded") {
  ThreadPool pool(2);
  for (std::vector<int64_t> perm : {std::vector<int64_t>{0, 2, 3, 1}, std::vector<int64_t>{0, 3, 1, 2}}) {
    Tensor in = randomTensor({2, 24, 37, 29}, 7);
    Tensor want = Tensor::zeros(DType::F32, transposeShape(in.shape(), perm));
    reference::transpose(in, perm, want);
    Tensor serial = Tensor::zeros(want.type()), threaded = Tensor::zeros(want.type());
    transpose(in, perm, serial, RunContext{});
    transpose(in, perm, threaded, RunContext{&pool});
    CHECK(serial.identical(want));
    CHECK(threaded.identical(want));
  }
}

TEST_CASE("Transpose through the op: default perm reverses, every dtype") {
  for (DType dtype : ALL_DTYPES) {
    Tensor in = iotaTensor(dtype, {2, 3, 4});
    Result<std::vector<Tensor>> out = runNode(makeNode("Transpose", 1), {in});
    REQUIRE(out.ok());
    Tensor want = Tensor::zeros(dtype, {4, 3, 2});
    std::vector<int64_t> perm = {2, 1, 0};
    reference::transpose(in, perm, want);
    CHECK((*out)[0].identical(want));
  }
}

TEST_CASE("Transpose rejects a perm that is not a permutation") {
  Tensor in = iotaTensor(DType::F32, {2, 3, 4});
  for (std::vector<int64_t> perm : {std::vector<int64_t>{0, 1}, std::vector<int64_t>{0, 1, 1},
                                     std::vector<int64_t>{0, 1, 3}, std::vector<int64_t>{-1, 0, 1}}) {
    Attributes attrs;
    attrs.set("perm", perm);
    CHECK(prepareError(makeNode("Transpose", 1, 1, attrs), {in}).find("not a permutation") != std::string::npos);
  }
}

TEST_CASE("Transpose speed, NCHW->NHWC 1x32x112x112 float (informational)") {
  Tensor in = randomTensor({1, 32, 112, 112}, 3);
  std::vector<int64_t> perm = {0, 2, 3, 1};
  Tensor out = Tensor::zeros(DType::F32, transposeShape(in.shape(), perm));
  auto time = [&](auto&& fn) {
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i) fn();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / 20;
  };
  double fast = time([&] { transpose(in, perm, out, RunContext{}); });
  double ref = time([&] { reference::transpose(in, perm, out); });
  MESSAGE(fmt::format("transpose 1x32x112x112 NCHW->NHWC: fast {:.3f} ms, reference {:.3f} ms", fast, ref));
}

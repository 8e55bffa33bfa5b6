// Stage images: the C reader runs what the writer wrote with the session's bytes, and refuses
// (never runs out of bounds on) truncated and corrupted images.
#include "runtime/int8/stage_image.h"

#include <doctest/doctest.h>

#include <cstring>
#include <random>

#include "runtime/passes/optimize.h"
#include "runtime/passes/pass_test_util.h"
#include "runtime/quantize/calibration.h"
#include "runtime/quantize/quantize_graph.h"
#include "runtime/quantize/stage_image_writer.h"

using namespace cleave;
using namespace cleave::testing;

namespace {

// Conv+Relu, MaxPool, a residual Add, global pooling, Flatten and Gemm, quantised to int8 with a
// float interface and lowered, as a session runs it.
Graph loweredNetwork() {
  Graph g = graphWithInput("x", {1, 3, 8, 8});
  g.initializers["w1"] = randomTensor({8, 3, 3, 3}, 1, -0.5f, 0.5f);
  g.initializers["b1"] = randomTensor({8}, 2, -0.2f, 0.2f);
  g.initializers["w2"] = randomTensor({8, 8, 3, 3}, 3, -0.3f, 0.3f);
  g.initializers["w3"] = randomTensor({5, 8}, 5, -0.7f, 0.7f);
  g.initializers["b3"] = randomTensor({5}, 6, -0.1f, 0.1f);
  addNode(g, "Conv", {"x", "w1", "b1"}, {"c1"}, attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}}));
  addNode(g, "Relu", {"c1"}, {"r1"});
  addNode(g, "MaxPool", {"r1"}, {"p1"},
          attrs({{"kernel_shape", std::vector<int64_t>{2, 2}}, {"strides", std::vector<int64_t>{2, 2}}}));
  addNode(g, "Conv", {"p1", "w2"}, {"c2"}, attrs({{"pads", std::vector<int64_t>{1, 1, 1, 1}}}));
  addNode(g, "Add", {"p1", "c2"}, {"sum"});
  addNode(g, "GlobalAveragePool", {"sum"}, {"gap"});
  addNode(g, "Flatten", {"gap"}, {"flat"});
  addNode(g, "Gemm", {"flat", "w3", "b3"}, {"y"}, attrs({{"transB", int64_t{1}}}));
  g.outputs.push_back({"y", {DType::F32, {1, 5}}});
  CalibrationSamples samples;
  for (uint32_t s = 0; s < 16; ++s) samples.push_back(randomInputs(g, 50 + s));
  Result<std::map<std::string, ValueRange>> ranges = calibrateRanges(g, samples);
  REQUIRE(ranges.ok());
  REQUIRE(quantizeGraph(g, *ranges, QuantizeMode::Int8).ok());
  REQUIRE(optimizeGraph(g).ok());
  return g;
}

// Three branches joined by one Concat of three inputs on channels (NoNN's fusion), each branch at
// its own scale, then Gemm.
Graph loweredConcatNetwork() {
  Graph g = graphWithInput("x", {1, 1, 6, 6});
  std::vector<std::string> features;
  for (int b = 0; b < 3; ++b) {
    const std::string w = "w" + std::to_string(b), c = "c" + std::to_string(b), r = "r" + std::to_string(b);
    g.initializers[w] =
        randomTensor({4 + 2 * b, 1, 3, 3}, 10 + static_cast<uint32_t>(b), -0.5f * (b + 1), 0.5f * (b + 1));
    addNode(g, "Conv", {"x", w}, {c});
    addNode(g, "Relu", {c}, {r});
    addNode(g, "GlobalAveragePool", {r}, {"p" + std::to_string(b)});
    addNode(g, "Flatten", {"p" + std::to_string(b)}, {"f" + std::to_string(b)});
    features.push_back("f" + std::to_string(b));
  }
  addNode(g, "Concat", features, {"cat"}, attrs({{"axis", int64_t{1}}}));
  g.initializers["wg"] = randomTensor({3, 18}, 20, -0.7f, 0.7f);
  addNode(g, "Gemm", {"cat", "wg"}, {"y"}, attrs({{"transB", int64_t{1}}}));
  g.outputs.push_back({"y", {DType::F32, {1, 3}}});
  CalibrationSamples samples;
  for (uint32_t s = 0; s < 16; ++s) samples.push_back(randomInputs(g, 70 + s));
  Result<std::map<std::string, ValueRange>> ranges = calibrateRanges(g, samples);
  REQUIRE(ranges.ok());
  REQUIRE(quantizeGraph(g, *ranges, QuantizeMode::Int8).ok());
  Status lowered = optimizeGraph(g);
  REQUIRE_MESSAGE(lowered.ok(), (lowered.ok() ? "" : lowered.error().message));
  REQUIRE(countOps(g, "QLinearConcat") == 1);
  return g;
}

std::vector<float> runImage(const std::vector<uint8_t>& bytes, const Tensor& input) {
  cleave_q_stage_info info{};
  REQUIRE(cleave_q_stage_check(bytes.data(), bytes.size(), &info) == 0);
  std::vector<uint32_t> arena((info.arena_bytes + 3) / 4);
  auto* base = reinterpret_cast<uint8_t*>(arena.data());
  uint32_t size = 0;
  uint8_t* in = cleave_q_stage_tensor(bytes.data(), base, 0, 0, &size);
  REQUIRE(size == input.bytes());
  // A stage image's tensors are NHWC, its inputs too: the NCHW image goes in channels-last.
  const float* planar = input.data<float>();
  auto* interleaved = reinterpret_cast<float*>(in);
  const int64_t channels = input.dim(1), plane = input.dim(2) * input.dim(3);
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t p = 0; p < plane; ++p) interleaved[p * channels + c] = planar[c * plane + p];
  cleave_q_stage_run(bytes.data(), base);
  const auto* out = reinterpret_cast<const float*>(cleave_q_stage_tensor(bytes.data(), base, 1, 0, &size));
  return std::vector<float>(out, out + size / 4);
}

}  // namespace

TEST_CASE("a stage image run on the C reference kernels gives the session's bytes") {
  const Graph graph = loweredNetwork();
  Result<StageImage> image = writeStageImage(graph);
  REQUIRE_MESSAGE(image.ok(), (image.ok() ? "" : image.error().message));
  for (uint32_t seed = 100; seed < 120; ++seed) {
    std::vector<Tensor> inputs = randomInputs(graph, seed);
    const Tensor expected = runGraph(graph, inputs)[0];
    const std::vector<float> actual = runImage(image->bytes, inputs[0]);
    REQUIRE(actual.size() == 5);
    CHECK(std::memcmp(actual.data(), expected.raw(), expected.bytes()) == 0);
  }
}

TEST_CASE("a Concat of three inputs at three scales runs in the image as in the session") {
  const Graph graph = loweredConcatNetwork();
  Result<StageImage> image = writeStageImage(graph);
  REQUIRE_MESSAGE(image.ok(), (image.ok() ? "" : image.error().message));
  for (uint32_t seed = 200; seed < 220; ++seed) {
    std::vector<Tensor> inputs = randomInputs(graph, seed);
    const Tensor expected = runGraph(graph, inputs)[0];
    const std::vector<float> actual = runImage(image->bytes, inputs[0]);  // one channel: NCHW is NHWC
    CHECK(std::memcmp(actual.data(), expected.raw(), expected.bytes()) == 0);
  }
}

TEST_CASE("a truncated or corrupted stage image is refused or runs within its arena") {
  const Graph graph = loweredNetwork();
  Result<StageImage> image = writeStageImage(graph);
  REQUIRE(image.ok());
  const std::vector<uint8_t>& good = image->bytes;
  for (size_t size = 0; size < good.size(); ++size) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(size));
    CHECK(cleave_q_stage_check(cut.data(), cut.size(), nullptr) != 0);
  }
  std::vector<uint8_t> bad = good;
  bad[0] ^= 1;
  CHECK(std::string(cleave_q_stage_error(cleave_q_stage_check(bad.data(), bad.size(), nullptr))) ==
        "not a stage image (magic)");

  // Random corruption of the tables (the constants are any bytes a weight may be): each image
  // is refused, or checks and runs; under the sanitizers a run outside its arena or image fails.
  std::mt19937 rng(9);
  int refused = 0, ran = 0;
  const Tensor input = randomInputs(graph, 7)[0];
  cleave_q_stage_info info{};
  REQUIRE(cleave_q_stage_check(good.data(), good.size(), &info) == 0);
  const size_t tables = 4 * (CLEAVE_Q_HEADER_WORDS + info.tensor_count * CLEAVE_Q_TENSOR_WORDS + info.input_count +
                             info.output_count + info.op_count * CLEAVE_Q_OP_WORDS);
  for (int trial = 0; trial < 10000; ++trial) {
    std::vector<uint8_t> corrupt = good;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) corrupt[rng() % tables] = static_cast<uint8_t>(rng());
    cleave_q_stage_info corruptInfo{};
    if (cleave_q_stage_check(corrupt.data(), corrupt.size(), &corruptInfo) != 0) {
      ++refused;
      continue;
    }
    if (corruptInfo.arena_bytes > (1u << 24)) continue;  // valid but absurd: a device would refuse its size
    std::vector<uint32_t> arena((corruptInfo.arena_bytes + 3) / 4 + 1);
    cleave_q_stage_run(corrupt.data(), reinterpret_cast<uint8_t*>(arena.data()));
    ++ran;
  }
  MESSAGE(refused << " corrupted images refused, " << ran << " checked and ran");
  CHECK(refused > 0);
}

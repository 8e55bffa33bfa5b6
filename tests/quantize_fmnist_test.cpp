// Post-training int8 quantisation of the real example models, end to end: calibrated on
// Fashion-MNIST's training images, written as ONNX QDQ that ONNX's own checker accepts, run on
// cleave's int8 kernels over test images it never saw, and cut into stages that reproduce the
// whole quantised graph bit for bit.
#include <filesystem>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <onnx/checker.h>

#include "runtime/int8/kernels.h"
#include "runtime/npy.h"
#include "runtime/onnx_export.h"
#include "runtime/onnx_import.h"
#include "runtime/passes/optimize.h"
#include "runtime/quantize/calibration.h"
#include "runtime/quantize/quantize_graph.h"
#include "runtime/session.h"
#include "runtime/stages.h"
#include "tests/temp_dir.h"
#include "tools/demo/fmnist_reader.h"

using namespace cleave;
using cleave::testing::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr int64_t CALIBRATION_IMAGES = 500;
constexpr int64_t TEST_IMAGES = 2000;

struct TestSet {
  Tensor images, labels;
};

std::optional<TestSet> loadTestSet() {
  const fs::path data = fs::path(CLEAVE_BINARY_DIR) / "data";
  Result<Tensor> images = readNpy(data / "fmnist-t10k-images.npy");
  Result<Tensor> labels = readNpy(data / "fmnist-t10k-labels.npy");
  if (!images || !labels) return std::nullopt;
  return TestSet{*images, *labels};
}

Tensor image(const TestSet& set, int64_t i, DType dtype, float scale, int32_t zeroPoint) {
  Tensor one = Tensor::zeros(dtype, {1, 1, 28, 28});
  const float* pixels = set.images.data<float>() + i * 784;
  if (dtype == DType::I8) cleave_q_quantize(784, pixels, scale, zeroPoint, one.data<int8_t>());
  else std::copy_n(pixels, 784, one.data<float>());
  return one;
}

double accuracy(const Graph& graph, const TestSet& set, float scale = 1.0f, int32_t zeroPoint = 0) {
  Result<std::unique_ptr<Session>> session = Session::create(graph);
  REQUIRE_MESSAGE(session.ok(), (session.ok() ? "" : session.error().message));
  int64_t correct = 0;
  for (int64_t i = 0; i < TEST_IMAGES; ++i) {
    Result<std::vector<Tensor>> out = (*session)->run({image(set, i, graph.inputs[0].type.dtype, scale, zeroPoint)});
    REQUIRE(out.ok());
    std::vector<float> logits = (*out)[0].toFloats();
    correct += std::max_element(logits.begin(), logits.end()) - logits.begin() == set.labels.data<int64_t>()[i];
  }
  return static_cast<double>(correct) / TEST_IMAGES;
}

int64_t weightBytes(const Graph& graph) {
  int64_t bytes = 0;
  for (const auto& [name, tensor] : graph.initializers) bytes += static_cast<int64_t>(tensor.bytes());
  return bytes;
}

// The model as `cleavectl model quantize` makes it, written and read back through an ONNX file
// that ONNX's checker has accepted.
Graph quantizedModel(const std::string& model, QuantizeMode mode, const std::vector<Tensor>& calibration,
                     const fs::path& dir) {
  Result<Graph> imported = importOnnxFile(fs::path(CLEAVE_SOURCE_DIR) / "models" / model / "model.onnx");
  REQUIRE(imported.ok());
  Graph graph = *imported;
  OptimizeOptions noFusion;
  noFusion.fuseActivations = false;
  REQUIRE(optimizeGraph(graph, nullptr, noFusion).ok());
  CalibrationSamples samples;
  for (const Tensor& t : calibration) samples.push_back({t});
  Result<std::map<std::string, ValueRange>> ranges = calibrateRanges(graph, samples);
  REQUIRE(ranges.ok());
  Result<QuantizeReport> report = quantizeGraph(graph, *ranges, mode);
  REQUIRE_MESSAGE(report.ok(), (report.ok() ? "" : report.error().message));
  CHECK(report->floatNodes.empty());
  const fs::path path = dir / fmt::format("{}-{}.onnx", model, static_cast<int>(mode));
  REQUIRE(exportOnnxFile(graph, path.string()).ok());
  std::string checker;
  try {
    onnx::checker::check_model(path.string());
  } catch (const std::exception& e) {
    checker = e.what();
  }
  CHECK_MESSAGE(checker.empty(), checker);
  Result<Graph> reloaded = importOnnxFile(path.string());
  REQUIRE(reloaded.ok());
  return *reloaded;
}

}  // namespace

TEST_CASE("int8 example models: checker-clean QDQ, float32's accuracy, a quarter of the weights, exact stages") {
  std::optional<TestSet> testSet = loadTestSet();
  Result<demo::LabelledImages> train = demo::readFashionMnist(demo::FMNIST_DIR, "train");
  if (!testSet || !train) {
    MESSAGE("skipped: Fashion-MNIST missing (dataset-fashion-mnist, and the fmnist test fixture)");
    return;
  }
  std::vector<Tensor> calibration(train->images.begin(), train->images.begin() + CALIBRATION_IMAGES);
  TempDir dir("quantize-fmnist");
  for (const std::string model : {"fmnist-small", "fmnist-teacher"}) {
    Result<Graph> original = importOnnxFile(fs::path(CLEAVE_SOURCE_DIR) / "models" / model / "model.onnx");
    REQUIRE(original.ok());
    Graph lowered = quantizedModel(model, QuantizeMode::Int8, calibration, dir.path);
    const int64_t int8Bytes = weightBytes(lowered);
    REQUIRE(optimizeGraph(lowered).ok());
    CHECK(lowered.nodes.front().opType == "QuantizeLinear");
    for (size_t n = 1; n + 1 < lowered.nodes.size(); ++n) {  // everything between is int8
      const std::string& op = lowered.nodes[n].opType;
      const bool int8 = op.rfind("Q", 0) == 0 || op == "MaxPool" || op == "Flatten";
      CHECK_MESSAGE(int8, op);
    }
    const double float32 = accuracy(*original, *testSet), int8 = accuracy(lowered, *testSet);
    const double ratio = static_cast<double>(weightBytes(*original)) / static_cast<double>(int8Bytes);
    MESSAGE(fmt::format("{}: top-1 on {} test images float32 {:.4f}, int8 {:.4f}; weights {:.2f}x smaller", model,
                        TEST_IMAGES, float32, int8, ratio));
    CHECK(std::fabs(int8 - float32) <= 0.005);
    CHECK(ratio >= 3.5);

    // Cut at every position: the stages, run in turn, give the whole graph's bytes.
    Result<GraphAnalysis> analysis = analyzeGraph(lowered);
    REQUIRE(analysis.ok());
    Result<std::unique_ptr<Session>> whole = Session::create(lowered);
    REQUIRE(whole.ok());
    const auto positions =
        static_cast<int64_t>(std::count(analysis->constantNode.begin(), analysis->constantNode.end(), false));
    for (int64_t cut = 1; cut < positions; ++cut) {
      const int64_t cuts[] = {cut};
      Result<std::vector<Graph>> stages = extractStages(lowered, cuts);
      REQUIRE_MESSAGE(stages.ok(), (stages.ok() ? "" : stages.error().message));
      for (int64_t i = 0; i < 5; ++i) {
        std::vector<Tensor> values = {image(*testSet, i, DType::F32, 1.0f, 0)};
        const Tensor expected = (*(*whole)->run(values))[0];
        for (const Graph& stage : *stages) {
          Result<std::unique_ptr<Session>> session = Session::create(stage);
          REQUIRE(session.ok());
          Result<std::vector<Tensor>> out = (*session)->run(values);
          REQUIRE(out.ok());
          values = *out;
        }
        CHECK(values[0].identical(expected));
      }
    }
  }
}

TEST_CASE("integer-only fmnist-small takes an int8 image and keeps float32's accuracy") {
  std::optional<TestSet> testSet = loadTestSet();
  Result<demo::LabelledImages> train = demo::readFashionMnist(demo::FMNIST_DIR, "train");
  if (!testSet || !train) {
    MESSAGE("skipped: Fashion-MNIST missing");
    return;
  }
  std::vector<Tensor> calibration(train->images.begin(), train->images.begin() + CALIBRATION_IMAGES);
  TempDir dir("quantize-fmnist");
  Graph graph = quantizedModel("fmnist-small", QuantizeMode::IntegerOnly, calibration, dir.path);
  REQUIRE(graph.inputs[0].type.dtype == DType::I8);
  const Node& dequantize = graph.nodes.front();
  REQUIRE(dequantize.opType == "DequantizeLinear");
  const float scale = graph.initializers.at(dequantize.inputs[1]).data<float>()[0];
  const int32_t zeroPoint = graph.initializers.at(dequantize.inputs[2]).data<int8_t>()[0];
  REQUIRE(optimizeGraph(graph).ok());
  for (const Node& node : graph.nodes) CHECK(node.opType != "DequantizeLinear");
  Result<Graph> original = importOnnxFile(fs::path(CLEAVE_SOURCE_DIR) / "models" / "fmnist-small" / "model.onnx");
  REQUIRE(original.ok());
  const double float32 = accuracy(*original, *testSet), int8 = accuracy(graph, *testSet, scale, zeroPoint);
  MESSAGE(fmt::format("integer-only fmnist-small: float32 {:.4f}, int8 {:.4f}", float32, int8));
  CHECK(std::fabs(int8 - float32) <= 0.005);
}

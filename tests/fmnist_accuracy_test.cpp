// Real data: the example models classify all 10,000 Fashion-MNIST test images with cleave's
// runtime, before and after the graph passes, and must reach the accuracy PyTorch measured when
// they were trained (bundle.toml's top1, written by tools/train/train_fmnist_*.py).
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "runtime/npy.h"
#include "runtime/onnx_import.h"
#include "runtime/passes/optimize.h"
#include "runtime/session.h"

using namespace cleave;
namespace fs = std::filesystem;

namespace {

double bundleTop1(const fs::path& bundle) {
  std::ifstream in(bundle);
  std::stringstream text;
  text << in.rdbuf();
  std::smatch match;
  std::string s = text.str();
  REQUIRE(std::regex_search(s, match, std::regex(R"(top1\s*=\s*([0-9.]+))")));
  return std::stod(match[1]);
}

double accuracy(const Graph& graph, const Tensor& images, const Tensor& labels) {
  auto session = Session::create(graph);
  REQUIRE_MESSAGE(session.ok(), session.error().message);
  int64_t count = images.dim(0), correct = 0;
  const int64_t imageFloats = 28 * 28;
  Tensor one = Tensor::zeros(DType::F32, {1, 1, 28, 28});
  for (int64_t i = 0; i < count; ++i) {
    std::copy_n(images.data<float>() + i * imageFloats, imageFloats, one.data<float>());
    auto out = (*session)->run({one});
    REQUIRE(out.ok());
    auto logits = (*out)[0].values<float>();
    int64_t predicted = std::max_element(logits.begin(), logits.end()) - logits.begin();
    correct += predicted == labels.data<int64_t>()[i];
  }
  return static_cast<double>(correct) / static_cast<double>(count);
}

// Classifies the test set with `model`'s ONNX as imported and after the passes; both must be
// within `tolerance` of the top1 PyTorch measured (bundle.toml) and at least `floor`.
void checkBundle(const std::string& model, double tolerance, double floor) {
  fs::path data = fs::path(CLEAVE_BINARY_DIR) / "data";
  if (!fs::exists(data / "fmnist-t10k-images.npy")) {
    MESSAGE("skipped: Fashion-MNIST test set not exported (dataset-fashion-mnist missing)");
    return;
  }
  fs::path bundle = fs::path(CLEAVE_SOURCE_DIR) / "models" / model;
  Result<Tensor> images = readNpy(data / "fmnist-t10k-images.npy");
  Result<Tensor> labels = readNpy(data / "fmnist-t10k-labels.npy");
  REQUIRE(images.ok());
  REQUIRE(labels.ok());
  REQUIRE(images->dim(0) == 10000);
  Result<Graph> graph = importOnnxFile(bundle / "model.onnx");
  REQUIRE_MESSAGE(graph.ok(), graph.error().message);
  double expected = bundleTop1(bundle / "bundle.toml");
  CHECK(expected >= floor);

  double asImported = accuracy(*graph, *images, *labels);
  Graph optimized = *graph;
  REQUIRE(optimizeGraph(optimized).ok());
  double afterPasses = accuracy(optimized, *images, *labels);
  MESSAGE(fmt::format("{}: PyTorch {:.4f}, cleave {:.4f} as imported, {:.4f} optimised", model, expected, asImported,
                      afterPasses));
  CHECK(std::fabs(asImported - expected) <= tolerance);
  CHECK(std::fabs(afterPasses - expected) <= tolerance);
  CHECK(asImported >= floor);
  CHECK(afterPasses >= floor);
}

}  // namespace

// Float summation order differs from PyTorch's (and the passes fold BatchNorm into the convs), so
// a few of 10,000 borderline images may flip.
TEST_CASE("fmnist-small reaches PyTorch's test accuracy on all 10,000 test images") {
  checkBundle("fmnist-small", 0.0005, 0.0);
}

// The demo's model: residual Adds, strided convs and 1x1 projections on real data, and the 92%
// the issue sets for it, whatever the training run happened to reach.
TEST_CASE("fmnist-teacher reaches PyTorch's test accuracy and at least 92%") {
  checkBundle("fmnist-teacher", 0.002, 0.92);
}

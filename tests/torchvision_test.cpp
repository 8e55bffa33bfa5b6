// Real networks: ten torchvision classifiers (random weights, BatchNorm statistics set from random
// images, exported by tools/models/export_torchvision.py, a CTest fixture) must
//  - match PyTorch's own output within 1e-3 max absolute difference, as imported and after the
//    graph passes (and after an ONNX export/import round trip of the optimised graph), with the
//    fast kernels on one and two threads and with the portable kernels alone;
//  - give output bit-identical to the whole graph when cut into stages at several cut sets.
#include <filesystem>
#include <iostream>
#include <random>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <onnx/checker.h>

#include "runtime/cost_report.h"
#include "runtime/npy.h"
#include "runtime/onnx_export.h"
#include "runtime/onnx_import.h"
#include "runtime/passes/optimize.h"
#include "runtime/session.h"
#include "runtime/stages.h"

using namespace cleave;
namespace fs = std::filesystem;

namespace {

const fs::path MODEL_DIR = fs::path(CLEAVE_BINARY_DIR) / "models" / "torchvision";
const char* MODELS[] = {"mobilenet_v2",       "resnet18",        "squeezenet1_1",  "shufflenet_v2_x1_0",
                        "mobilenet_v3_small", "efficientnet_b0", "regnet_x_400mf", "mnasnet1_0",
                        "googlenet",          "densenet121"};

struct Fixture {
  Graph graph;
  Tensor input;
  Tensor torchOutput;
};

std::optional<Fixture> loadFixture(const std::string& name) {
  fs::path onnxPath = MODEL_DIR / (name + ".onnx");
  if (!fs::exists(onnxPath)) return std::nullopt;
  Result<Graph> graph = importOnnxFile(onnxPath);
  REQUIRE_MESSAGE(graph.ok(), graph.error().message);
  Result<Tensor> input = readNpy(MODEL_DIR / (name + ".input.npy"));
  REQUIRE_MESSAGE(input.ok(), input.error().message);
  Result<Tensor> output = readNpy(MODEL_DIR / (name + ".torch.npy"));
  REQUIRE_MESSAGE(output.ok(), output.error().message);
  return Fixture{*graph, *input, *output};
}

Tensor runWhole(const Graph& graph, const Tensor& input, SessionOptions options = {}) {
  Result<std::unique_ptr<Session>> session = Session::create(graph, options);
  REQUIRE_MESSAGE(session.ok(), session.error().message);
  Result<std::vector<Tensor>> outputs = (*session)->run({input});
  REQUIRE_MESSAGE(outputs.ok(), outputs.error().message);
  return (*outputs)[0];
}

float maxAbsDiff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  float worst = 0.0f;
  for (int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::fabs(a.data<float>()[i] - b.data<float>()[i]));
  return worst;
}

// Runs the stages in order, feeding each stage's inputs by name from what came before.
Tensor runStaged(const std::vector<Graph>& stages, const Tensor& input) {
  std::map<std::string, Tensor> available = {{stages.front().inputs.front().name, input}};
  std::vector<Tensor> last;
  for (const Graph& stage : stages) {
    std::vector<Tensor> inputs;
    for (const ValueInfo& in : stage.inputs) {
      REQUIRE_MESSAGE(available.count(in.name), "stage input " << in.name << " was not produced earlier");
      inputs.push_back(available.at(in.name));
    }
    Result<std::unique_ptr<Session>> session = Session::create(stage);
    REQUIRE_MESSAGE(session.ok(), session.error().message);
    Result<std::vector<Tensor>> outputs = (*session)->run(inputs);
    REQUIRE_MESSAGE(outputs.ok(), outputs.error().message);
    for (size_t i = 0; i < stage.outputs.size(); ++i) available[stage.outputs[i].name] = (*outputs)[i];
    last = *outputs;
  }
  return last.front();
}

bool fixturesPresent() {
  if (fs::exists(MODEL_DIR / "resnet18.onnx")) return true;
  std::cout << "skipped: no torchvision exports in " << MODEL_DIR
            << " (the torchvision_export fixture needs /usr/bin/python3 with torch and torchvision)\n";
  return false;
}

}  // namespace

TEST_CASE("torchvision networks match PyTorch, before and after the graph passes") {
  if (!fixturesPresent()) return;
  for (const char* name : MODELS) {
    CAPTURE(name);
    std::optional<Fixture> fixture = loadFixture(name);
    REQUIRE(fixture.has_value());
    float imported = maxAbsDiff(runWhole(fixture->graph, fixture->input), fixture->torchOutput);
    CHECK(imported <= 1e-3f);

    Graph optimized = fixture->graph;
    OptimizeReport report;
    Status status = optimizeGraph(optimized, &report);
    REQUIRE_MESSAGE(status.ok(), status.error().message);
    CHECK(optimized.nodes.size() < fixture->graph.nodes.size());
    const Tensor oneThreadOutput = runWhole(optimized, fixture->input);
    float afterPasses = maxAbsDiff(oneThreadOutput, fixture->torchOutput);
    CHECK(afterPasses <= 1e-3f);
    // Two threads on the pool from the first run: the same bits as one thread (a threaded
    // session measures its first runs both ways, runtime/pool_choice.h, and must not change
    // its answer when it switches).
    SessionOptions twoThreads;
    twoThreads.threads = 2;
    twoThreads.measurePool = false;
    const Tensor twoThreadOutput = runWhole(optimized, fixture->input, twoThreads);
    CHECK(twoThreadOutput.identical(oneThreadOutput));
    float threaded = maxAbsDiff(twoThreadOutput, fixture->torchOutput);
    CHECK(threaded <= 1e-3f);
    SessionOptions portableOnly;
    portableOnly.fastKernels = false;
    float portable = maxAbsDiff(runWhole(optimized, fixture->input, portableOnly), fixture->torchOutput);
    CHECK(portable <= 1e-3f);

    // What `cleavectl model optimize` writes must load back and give the same numbers.
    fs::path written = MODEL_DIR / fmt::format("{}.optimized.onnx", name);
    Status exported = exportOnnxFile(optimized, written);
    REQUIRE_MESSAGE(exported.ok(), exported.error().message);
    std::string checkerError;
    try {
      onnx::checker::check_model(written.string());
    } catch (const std::exception& e) {
      checkerError = e.what();
    }
    CHECK_MESSAGE(checkerError.empty(), "ONNX's checker rejects the optimised model: " << checkerError);
    Result<Graph> reloaded = importOnnxFile(written);
    REQUIRE_MESSAGE(reloaded.ok(), reloaded.error().message);
    CHECK(maxAbsDiff(runWhole(*reloaded, fixture->input), fixture->torchOutput) <= 1e-3f);
    std::cout << fmt::format("{}: max |cleave - torch| = {:.2e} imported, {:.2e} optimised ({} -> {} nodes), "
                             "{:.2e} on two threads, {:.2e} with the portable kernels\n",
                             name, imported, afterPasses, fixture->graph.nodes.size(), optimized.nodes.size(), threaded,
                             portable);
  }
}

TEST_CASE("stages run in order reproduce the whole graph bit for bit") {
  if (!fixturesPresent()) return;
  std::mt19937 rng(42);
  for (const char* name : MODELS) {
    CAPTURE(name);
    std::optional<Fixture> fixture = loadFixture(name);
    REQUIRE(fixture.has_value());
    for (bool optimize : {false, true}) {
      CAPTURE(optimize);
      Graph graph = fixture->graph;
      if (optimize) REQUIRE(optimizeGraph(graph, nullptr).ok());
      Tensor whole = runWhole(graph, fixture->input);
      Result<CostReport> report = buildCostReport(graph);
      REQUIRE(report.ok());
      int64_t positions = static_cast<int64_t>(report->nodes.size());
      std::vector<std::vector<int64_t>> cutSets = {
          {positions / 2}, {positions / 3, 2 * positions / 3}, {1, positions - 1}, {0, positions}};
      std::vector<int64_t> random;  // three distinct random cuts
      while (random.size() < 3) {
        int64_t cut = static_cast<int64_t>(rng() % static_cast<uint32_t>(positions + 1));
        if (std::find(random.begin(), random.end(), cut) == random.end()) random.push_back(cut);
      }
      std::sort(random.begin(), random.end());
      cutSets.push_back(random);
      for (const std::vector<int64_t>& cuts : cutSets) {
        CAPTURE(fmt::format("{}", fmt::join(cuts, ",")));
        Result<std::vector<Graph>> stages = extractStages(graph, cuts);
        REQUIRE_MESSAGE(stages.ok(), stages.error().message);
        CHECK(stages->size() == cuts.size() + 1);
        // Each stage's inputs are exactly what the cost report says crosses its cut.
        for (size_t s = 1; s < stages->size(); ++s) {
          int64_t bytes = 0;
          for (const ValueInfo& in : (*stages)[s].inputs) bytes += in.type.bytes();
          CHECK(bytes == report->cuts[static_cast<size_t>(cuts[s - 1])].bytes);
        }
        CHECK(runStaged(*stages, fixture->input).identical(whole));
      }
    }
  }
}

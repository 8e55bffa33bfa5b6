// Runs ONNX's own operator tests (libonnx-testdata) through cleave's importer and executor and
// compares every output with ONNX's expected values: |got - want| <= 1e-4 * |want| + 1e-5.
//
// cleave compiles graphs for static shapes, so shape parameters (Reshape's shape, Slice's starts,
// Squeeze's axes, ConstantOfShape's shape...) must be constants, as they are in exported models.
// ONNX's node tests feed them as graph inputs instead; the harness binds every integer or bool
// input that a node reads in a parameter position (input index >= 1, or ConstantOfShape's input)
// as an initializer holding the test's value. The data inputs stay run-time inputs.
//
// A test is in scope when every op in its model is one cleave supports; in-scope tests that
// cleave cannot pass for a known, accepted reason are listed in conformance_skips.txt with the
// reason. Set CLEAVE_CONFORMANCE_FILTER=substring to run only matching tests (while developing
// an op); the summary line gives the counts the README quotes.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include "runtime/onnx_import.h"
#include "runtime/ops/op_table.h"
#include "runtime/session.h"

using namespace cleave;
namespace fs = std::filesystem;

namespace {

const fs::path ONNX_TESTDATA = "/usr/share/libonnx-testdata/data";

std::map<std::string, std::string> readSkips() {
  std::map<std::string, std::string> skips;
  std::ifstream in(std::string(CLEAVE_SOURCE_DIR) + "/tests/conformance_skips.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    std::string name, reason;
    fields >> name;
    std::getline(fields, reason);
    skips[name] = reason.substr(std::min(reason.find_first_not_of(' '), reason.size()));
  }
  return skips;
}

bool allOpsSupported(const onnx::ModelProto& model) {
  for (const auto& node : model.graph().node())
    if (!findOp(node.domain(), node.op_type())) return false;
  return model.graph().node_size() > 0;
}

bool readInParameterPosition(const Graph& graph, const std::string& value) {
  for (const Node& node : graph.nodes)
    for (size_t i = 0; i < node.inputs.size(); ++i)
      if (node.inputs[i] == value && (i >= 1 || node.opType == "ConstantOfShape")) return true;
  return false;
}

// See the header comment: integer/bool parameters become initializers.
void bindShapeParameters(Graph& graph, std::vector<Tensor>& inputs) {
  std::vector<ValueInfo> keptInfos;
  std::vector<Tensor> keptInputs;
  for (size_t i = 0; i < graph.inputs.size(); ++i) {
    DType d = inputs[i].dtype();
    bool parameter = (d == DType::I64 || d == DType::I32 || d == DType::Bool) &&
                     readInParameterPosition(graph, graph.inputs[i].name);
    if (parameter) {
      graph.initializers[graph.inputs[i].name] = inputs[i];
    } else {
      keptInfos.push_back(graph.inputs[i]);
      keptInputs.push_back(inputs[i]);
    }
  }
  graph.inputs = keptInfos;
  inputs = keptInputs;
}

std::string compare(const Tensor& got, const Tensor& want) {
  if (got.dtype() != want.dtype())
    return fmt::format("dtype {} != expected {}", dtypeName(got.dtype()), dtypeName(want.dtype()));
  if (got.shape() != want.shape())
    return fmt::format("shape {} != expected {}", shapeString(got.shape()), shapeString(want.shape()));
  if (got.dtype() == DType::F32 || got.dtype() == DType::F16) {
    std::vector<float> g = got.toFloats(), w = want.toFloats();
    for (size_t i = 0; i < g.size(); ++i) {
      if (std::isnan(w[i]) && std::isnan(g[i])) continue;
      if (!(std::fabs(g[i] - w[i]) <= 1e-4f * std::fabs(w[i]) + 1e-5f))
        return fmt::format("element {}: {} != expected {}", i, g[i], w[i]);
    }
    return "";
  }
  return got.identical(want) ? "" : "values differ";
}

// Runs one test folder; returns "" on success, else what went wrong.
std::string runCase(const fs::path& dir, const onnx::ModelProto& model) {
  std::vector<std::string> inputNames;
  std::set<std::string> initializers;
  for (const auto& init : model.graph().initializer()) initializers.insert(init.name());
  for (const auto& input : model.graph().input())
    if (!initializers.count(input.name())) inputNames.push_back(input.name());

  std::vector<fs::path> sets;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_directory() && entry.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(entry.path());
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) return "no test data sets";
  for (const fs::path& set : sets) {
    std::vector<Tensor> inputs, expected;
    for (size_t i = 0;; ++i) {
      fs::path file = set / fmt::format("input_{}.pb", i);
      if (!fs::exists(file)) break;
      Result<Tensor> t = readTensorProtoFile(file);
      if (!t) return t.error().message;
      inputs.push_back(*t);
    }
    for (size_t i = 0;; ++i) {
      fs::path file = set / fmt::format("output_{}.pb", i);
      if (!fs::exists(file)) break;
      Result<Tensor> t = readTensorProtoFile(file);
      if (!t) return t.error().message;
      expected.push_back(*t);
    }
    if (inputs.size() != inputNames.size()) return fmt::format("{} inputs in data, {} in model", inputs.size(), inputNames.size());
    ImportOptions options;
    for (size_t i = 0; i < inputs.size(); ++i) options.inputShapes[inputNames[i]] = inputs[i].shape();
    Result<Graph> graph = importOnnxModel(model, options);
    if (!graph) return "import: " + graph.error().message;
    bindShapeParameters(*graph, inputs);
    Result<std::unique_ptr<Session>> session = Session::create(*graph);
    if (!session) return "prepare: " + session.error().message;
    // Test data may carry a declared dtype the file's input differs from; the session checks.
    Result<std::vector<Tensor>> outputs = (*session)->run(inputs);
    if (!outputs) return "run: " + outputs.error().message;
    if (outputs->size() < expected.size()) return "too few outputs";
    for (size_t i = 0; i < expected.size(); ++i) {
      std::string problem = compare((*outputs)[i], expected[i]);
      if (!problem.empty()) return fmt::format("{}: output {}: {}", set.filename().string(), i, problem);
    }
  }
  return "";
}

struct Tally {
  int passed = 0;
  int failed = 0;
  int skipped = 0;
};

Tally runSuite(const fs::path& root, const std::function<bool(const std::string&)>& wanted,
               const std::map<std::string, std::string>& skips, const char* filter) {
  Tally tally;
  if (!fs::exists(root)) return tally;
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(root)) dirs.push_back(entry.path());
  std::sort(dirs.begin(), dirs.end());
  for (const fs::path& dir : dirs) {
    std::string name = dir.filename().string();
    if (!wanted(name)) continue;
    if (filter && name.find(filter) == std::string::npos) continue;
    std::ifstream in(dir / "model.onnx", std::ios::binary);
    onnx::ModelProto model;
    if (!in || !model.ParseFromIstream(&in) || !allOpsSupported(model)) continue;
    if (skips.count(name)) {
      ++tally.skipped;
      continue;
    }
    std::string problem = runCase(dir, model);
    if (problem.empty()) {
      ++tally.passed;
    } else {
      ++tally.failed;
      std::cout << "FAIL " << name << ": " << problem << "\n";
    }
    CHECK_MESSAGE(problem.empty(), name << ": " << problem);
  }
  return tally;
}

}  // namespace

TEST_CASE("ONNX node tests and pytorch-converted tests pass against ONNX's expected outputs") {
  if (!fs::exists(ONNX_TESTDATA / "node")) {
    std::cout << "skipped: " << ONNX_TESTDATA << " missing (install libonnx-testdata)\n";
    return;
  }
  const char* filter = std::getenv("CLEAVE_CONFORMANCE_FILTER");
  auto skips = readSkips();
  Tally node = runSuite(ONNX_TESTDATA / "node", [](const std::string&) { return true; }, skips, filter);
  // PyTorch-converted cases for the layers the issue names: Conv, BatchNorm, pooling, Linear.
  Tally torch = runSuite(
      ONNX_TESTDATA / "pytorch-converted",
      [](const std::string& name) {
        for (const char* prefix : {"test_Conv", "test_BatchNorm", "test_MaxPool", "test_AvgPool", "test_Linear"})
          if (name.rfind(prefix, 0) == 0) return true;
        return false;
      },
      skips, filter);
  std::cout << fmt::format("conformance: node tests {} pass, {} fail, {} skipped; pytorch-converted {} pass, {} fail, {} skipped\n",
                           node.passed, node.failed, node.skipped, torch.passed, torch.failed, torch.skipped);
  CHECK(node.passed + torch.passed > 0);
}

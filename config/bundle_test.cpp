// Bundles: the committed nonn bundles load with every graph wired as the manifest says (checked
// against the training script's own figures), and each kind of mistake in a nonn manifest is
// reported naming the file and the key or graph at fault.
#include "config/bundle.h"
#include "tests/temp_dir.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <fstream>
#include <string>

namespace cleave::config {
namespace {

const std::string MODELS = std::string(CLEAVE_SOURCE_DIR) + "/models";

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, from);
  return text.replace(at, from.size(), to);
}

// The fmnist-nonn-4 manifest with its files named by absolute path, so a copy loads from anywhere.
std::string nonn4Manifest() {
  std::ifstream in(MODELS + "/fmnist-nonn-4/bundle.toml");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(!text.empty());
  const std::string folder = MODELS + "/fmnist-nonn-4/";
  text = replaced(text, "model = \"../", "model = \"" + folder + "../");
  text = replaced(text, "fusion = \"", "fusion = \"" + folder);
  for (int k = 0; k < 4; ++k) {
    const std::string file = fmt::format("student{}.onnx", k);
    text = replaced(text, "model = \"" + file, "model = \"" + folder + file);
  }
  return text;
}

// loadBundle's error for a bundle folder holding `manifest`.
std::string errorsFor(const testing::TempDir& dir, const std::string& manifest) {
  std::ofstream(dir / "bundle.toml") << manifest;
  Result<ModelBundle> bundle = loadBundle(dir.path.string(), true);
  REQUIRE_FALSE(bundle.ok());
  return bundle.error().message;
}

// Multiply-accumulates of the Conv and Gemm nodes, as the training script counts them.
int64_t convAndGemmMacs(const CostReport& report) {
  int64_t macs = 0;
  for (const NodeCost& node : report.nodes)
    if (node.opType == "Conv" || node.opType == "Gemm" || node.opType == "MatMul") macs += node.macs;
  return macs;
}

}  // namespace

TEST_CASE("fmnist-nonn-4: four students read the image, the fusion reads their features, and the teacher can split") {
  Result<ModelBundle> bundle = loadBundle(MODELS + "/fmnist-nonn-4", true);
  REQUIRE_MESSAGE(bundle.ok(), bundle.error().message);
  CHECK(bundle->name == "fmnist-nonn-4");
  CHECK(bundle->kind == planner::Strategy::Nonn);
  CHECK(bundle->classes.size() == 10);
  REQUIRE(bundle->nonn);
  const NonnGraphs& nonn = *bundle->nonn;
  CHECK(nonn.input == "image");
  CHECK(nonn.output == "logits");
  REQUIRE(nonn.students.size() == 4);
  for (size_t k = 0; k < 4; ++k) {
    const NonnStudentGraph& student = nonn.students[k];
    CAPTURE(k);
    CHECK(student.output == fmt::format("features_{}", k));
    CHECK(student.graph.inputs.front().type.toString() == "float32[1,1,28,28]");
    REQUIRE(student.top1Without);
    // A missing student costs accuracy, but less than the whole ensemble's margin over one student.
    CHECK(*student.top1Without < *bundle->top1);
    CHECK(*student.top1Alone < *student.top1Without);
  }
  CHECK(nonn.fusion.graph.inputs.size() == 4);
  CHECK(nonn.fusion.graph.inputs.back().type.toString() == "float32[1,16]");
  CHECK(bundle->modelFile.find("fmnist-teacher/model.onnx") != std::string::npos);
  CHECK(allowedStrategies(*bundle) == std::vector<planner::Strategy>{planner::Strategy::Nonn, planner::Strategy::Split});

  planner::NonnModel model = nonnModel(nonn, *bundle->top1);
  CHECK(model.students.size() == 4);
  CHECK(model.accuracy == doctest::Approx(0.8978));
  CHECK(model.students[2].accuracyWithout == doctest::Approx(0.8960));
}

TEST_CASE("fmnist-nonn-4 as imported: the training script's MAC counts (PyTorch modules) match ours") {
  Result<ModelBundle> bundle = loadBundle(MODELS + "/fmnist-nonn-4", false);
  REQUIRE_MESSAGE(bundle.ok(), bundle.error().message);
  for (const NonnStudentGraph& student : bundle->nonn->students) CHECK(convAndGemmMacs(student.report) == 1074864);
  CHECK(convAndGemmMacs(bundle->nonn->fusion.report) == 640);
  CHECK(convAndGemmMacs(bundle->report) == 9345920);  // the teacher's README
}

TEST_CASE("fmnist-nonn-2 loads too, and a bundle without a split graph allows only its kind") {
  testing::TempDir dir("cleave-bundle");
  Result<ModelBundle> two = loadBundle(MODELS + "/fmnist-nonn-2", true);
  REQUIRE_MESSAGE(two.ok(), two.error().message);
  CHECK(two->nonn->students.size() == 2);

  std::ofstream(dir / "bundle.toml") << replaced(nonn4Manifest(), "model = \"" + MODELS + "/fmnist-nonn-4/../fmnist-teacher/model.onnx\"\n", "");
  Result<ModelBundle> studentsOnly = loadBundle(dir.path.string(), true);
  REQUIRE_MESSAGE(studentsOnly.ok(), studentsOnly.error().message);
  CHECK(studentsOnly->modelFile.empty());
  CHECK(allowedStrategies(*studentsOnly) == std::vector<planner::Strategy>{planner::Strategy::Nonn});
}

TEST_CASE("mistakes in a nonn manifest name the file and the key or graph") {
  testing::TempDir dir("cleave-bundle");
  const std::string manifest = nonn4Manifest();
  const std::string file = dir / "bundle.toml";
  {
    INFO("the manifest as written loads");
    std::ofstream(file) << manifest;
    Result<ModelBundle> ok = loadBundle(dir.path.string(), true);
    REQUIRE_MESSAGE(ok.ok(), ok.error().message);
  }
  SUBCASE("no fusion") {
    std::string errors = errorsFor(dir, replaced(manifest, "fusion = \"", "fusion_graph = \""));
    CHECK(errors.find(file) != std::string::npos);
    CHECK(errors.find("fusion") != std::string::npos);
    CHECK(errors.find("fusion_graph") != std::string::npos);  // and the unknown key, in the same run
  }
  SUBCASE("a student file that does not exist") {
    std::string errors = errorsFor(dir, replaced(manifest, "student2.onnx", "student9.onnx"));
    CHECK(errors.find("[[student]] 2") != std::string::npos);
    CHECK(errors.find("student9.onnx\" does not exist") != std::string::npos);
  }
  SUBCASE("a student output the graph does not have") {
    std::string errors = errorsFor(dir, replaced(manifest, "output = \"features_1\"", "output = \"features\""));
    CHECK(errors.find("student1.onnx") != std::string::npos);
    CHECK(errors.find("named 'features'") != std::string::npos);
  }
  SUBCASE("two students sending the same features") {
    std::string errors = errorsFor(dir, replaced(manifest, "student3.onnx", "student2.onnx"));
    INFO(errors);
    CHECK(errors.find("'features_3'") != std::string::npos);  // student2.onnx has no such output
  }
  SUBCASE("a fusion output that is not the graph's") {
    std::string errors = errorsFor(dir, replaced(manifest, "fusion_output = \"logits\"", "fusion_output = \"scores\""));
    CHECK(errors.find("fusion_output 'scores'") != std::string::npos);
  }
  SUBCASE("a fusion that reads other features") {
    std::string errors = errorsFor(dir, replaced(manifest, "/fmnist-nonn-4/fusion.onnx", "/fmnist-nonn-2/fusion.onnx"));
    CHECK(errors.find("fmnist-nonn-2/fusion.onnx") != std::string::npos);
    CHECK(errors.find("the 4 students' outputs") != std::string::npos);
  }
  SUBCASE("a kind this version cannot load, and a student with an unknown key") {
    std::string errors = errorsFor(dir, replaced(replaced(manifest, "kind = \"nonn\"", "kind = \"clio\""),
                                                 "top1_alone = 0.8835", "top1_alone = 0.8835\ntop1_aloen = 0.1"));
    CHECK(errors.find("\"clio\", which this version of cleave cannot load yet") != std::string::npos);
  }
  SUBCASE("no students") {
    std::string text = manifest.substr(0, manifest.find("[[student]]")) + manifest.substr(manifest.find("[accuracy]"));
    std::string errors = errorsFor(dir, text);
    CHECK(errors.find("needs [[student]] tables") != std::string::npos);
  }
}

}  // namespace cleave::config

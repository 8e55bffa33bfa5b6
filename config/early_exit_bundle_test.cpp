// The committed early-exit bundle loads with its blocks wired as the manifest says and its
// statistics whole (checked against the CSV's own rows, read here with plain string handling);
// each kind of mistake in a manifest or a statistics file is reported naming the file and the
// key or line at fault.
#include "config/early_exit_bundle.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <fstream>
#include <sstream>

#include "config/bundle.h"
#include "tests/temp_dir.h"

namespace cleave::config {
namespace {

const std::string MEANET = std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-meanet";

std::string readAll(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, from);
  return text.replace(at, from.size(), to);
}

// The manifest with its graphs named by absolute path and the statistics file copied beside it,
// so a copy in `dir` loads (with `csv` as the statistics when given).
std::string copyBundle(const testing::TempDir& dir, const std::string& csv = "") {
  std::string text = readAll(MEANET + "/bundle.toml");
  for (const char* file : {"block0.onnx", "block1.onnx", "../fmnist-teacher/model.onnx"})
    text = replaced(text, fmt::format("model = \"{}\"\nexit", file), fmt::format("model = \"{}/{}\"\nexit", MEANET, file));
  text = replaced(text, "model = \"../", "model = \"" + MEANET + "/../");
  std::ofstream(dir / "exit_stats.csv") << (csv.empty() ? readAll(MEANET + "/exit_stats.csv") : csv);
  return text;
}

std::string errorsFor(const testing::TempDir& dir, const std::string& manifest) {
  std::ofstream(dir / "bundle.toml") << manifest;
  Result<ModelBundle> bundle = loadBundle(dir.path.string(), true);
  REQUIRE_FALSE(bundle.ok());
  return bundle.error().message;
}

}  // namespace

TEST_CASE("fmnist-meanet: three blocks, what travels between them, and the whole statistics table") {
  Result<ModelBundle> bundle = loadBundle(MEANET, true);
  REQUIRE_MESSAGE(bundle.ok(), bundle.error().message);
  CHECK(bundle->kind == planner::Strategy::EarlyExit);
  REQUIRE(bundle->earlyExit);
  const EarlyExitGraphs& ee = *bundle->earlyExit;
  REQUIRE(ee.blocks.size() == 3);
  CHECK(ee.blocks[0].exit == "exit_0");
  CHECK(ee.blocks[2].exit == "logits");
  // Block 2 (the teacher) reads the image, so it travels through block 1's stage.
  CHECK(ee.receives[0] == std::vector<std::string>{"image"});
  CHECK(ee.receives[1] == std::vector<std::string>{"features_0", "image"});
  CHECK(ee.receives[2] == std::vector<std::string>{"image"});
  CHECK(bundle->requestInputs().front().name == "image");
  CHECK(allowedStrategies(*bundle) == std::vector<planner::Strategy>{planner::Strategy::EarlyExit, planner::Strategy::Split});

  // Every data row of the CSV, parsed here apart from the loader: the same counts in the same place.
  const planner::ExitStatistics& stats = ee.statistics;
  CHECK(stats.samples == 10000);
  CHECK(stats.combinations() == 15 * 15);
  std::istringstream lines(readAll(MEANET + "/exit_stats.csv"));
  std::string line;
  size_t rows = 0;
  for (bool header = true; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    if (header) {
      header = false;
      continue;
    }
    std::vector<std::string> f;
    std::stringstream split(line);
    for (std::string field; std::getline(split, field, ',');) f.push_back(field);
    REQUIRE(f.size() == 8);
    const auto& c0 = stats.candidates[0];
    const auto& c1 = stats.candidates[1];
    const size_t i0 = static_cast<size_t>(std::find(c0.begin(), c0.end(), std::stod(f[0])) - c0.begin());
    const size_t i1 = static_cast<size_t>(std::find(c1.begin(), c1.end(), std::stod(f[1])) - c1.begin());
    REQUIRE((i0 < c0.size() && i1 < c1.size()));
    const size_t row = i0 * c1.size() + i1;
    for (size_t k = 0; k < 3; ++k) {
      CHECK(stats.exited[row][k] == std::stoll(f[2 + 2 * k]));
      CHECK(stats.correct[row][k] == std::stoll(f[3 + 2 * k]));
    }
    ++rows;
  }
  CHECK(rows == 225);

  // The planner's view: the bytes that travel and the exits' result size.
  planner::EarlyExitModel model = earlyExitModel(ee);
  CHECK(model.blocks[0].receiveBytes == 1 * 28 * 28 * 4);
  CHECK(model.blocks[1].receiveBytes == 24 * 7 * 7 * 4 + 28 * 28 * 4);
  CHECK(model.blocks[2].exitBytes == 40);
}

TEST_CASE("mistakes in an early-exit manifest or its statistics name the file and the key or line") {
  testing::TempDir dir("cleave-ee-bundle");
  const std::string manifest = copyBundle(dir);
  const std::string file = dir / "bundle.toml";
  const std::string csv = dir / "exit_stats.csv";
  {
    INFO("the copy as written loads");
    std::ofstream(file) << manifest;
    Result<ModelBundle> ok = loadBundle(dir.path.string(), true);
    REQUIRE_MESSAGE(ok.ok(), ok.error().message);
  }
  SUBCASE("thresholds on the last block") {
    std::string errors = errorsFor(dir, replaced(manifest, "exit = \"logits\"", "exit = \"logits\"\nthresholds = [0.5]"));
    CHECK(errors.find(file) != std::string::npos);
    CHECK(errors.find("[[block]] 2") != std::string::npos);
    CHECK(errors.find("no thresholds") != std::string::npos);
  }
  SUBCASE("thresholds out of order") {
    std::string errors = errorsFor(dir, replaced(manifest, "thresholds = [0.0, 0.5,", "thresholds = [0.5, 0.0,"));
    CHECK(errors.find("ascending") != std::string::npos);
  }
  SUBCASE("an exit the block does not output") {
    std::string errors = errorsFor(dir, replaced(manifest, "exit = \"exit_1\"", "exit = \"exit_9\""));
    CHECK(errors.find("block1.onnx") != std::string::npos);
    CHECK(errors.find("no output 'exit_9'") != std::string::npos);
  }
  SUBCASE("a block reading what nothing forwards") {
    std::string errors = errorsFor(dir, replaced(manifest, "forward = [\"features_0\"]", "forward = []"));
    CHECK(errors.find("block 1 reads 'features_0'") != std::string::npos);
  }
  SUBCASE("a statistics row missing") {
    std::string text = readAll(csv);
    text.erase(text.rfind('\n', text.size() - 2) + 1);  // the last row
    std::ofstream(csv) << text;
    std::string errors = errorsFor(dir, manifest);
    CHECK(errors.find("exit_stats.csv: 224 rows") != std::string::npos);
  }
  SUBCASE("a threshold the manifest does not list") {
    const std::string text = replaced(readAll(csv), "\n0.0,0.5,", "\n0.0,0.55,");  // read before truncating
    std::ofstream(csv) << text;
    std::string errors = errorsFor(dir, manifest);
    CHECK(errors.find("exit_stats.csv:4: t1 = 0.55 is not one of block 1's thresholds") != std::string::npos);
  }
  SUBCASE("counts that do not add up") {
    const std::string text = replaced(readAll(csv), "\n0.0,0.0,10000,9020,", "\n0.0,0.0,10001,9020,");
    std::ofstream(csv) << text;
    std::string errors = errorsFor(dir, manifest);
    // The first row sets the count; the second disagrees.
    CHECK(errors.find("exit_stats.csv:4: the exits count 10000 inputs, earlier rows 10001") != std::string::npos);
  }
  SUBCASE("more right than finished") {
    const std::string text = replaced(readAll(csv), "\n0.0,0.0,10000,9020,", "\n0.0,0.0,10000,10020,");
    std::ofstream(csv) << text;
    std::string errors = errorsFor(dir, manifest);
    CHECK(errors.find("exit_stats.csv:3: more correct than exited at exit 0") != std::string::npos);
  }
}

}  // namespace cleave::config

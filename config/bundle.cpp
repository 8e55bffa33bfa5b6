#include "config/bundle.h"

#include <filesystem>

#include <fmt/format.h>

#include "config/toml_reader.h"
#include "runtime/onnx_import.h"
#include "runtime/passes/optimize.h"

namespace cleave::config {
namespace {

// bundle.toml: [bundle] name, kind, model, input, classes; [accuracy] dataset, top1.
Status readManifest(const std::string& file, ModelBundle& bundle) {
  Diagnostics diagnostics(file);
  Result<std::string> text = readTextFile(file);
  if (!text) return text.error();
  std::optional<toml::table> parsed = parseToml(*text, diagnostics);
  if (!parsed) return diagnostics.toError();
  const toml::table& root = *parsed;
  TableReader top(root, "bundle.toml", diagnostics);
  if (const toml::table* section = top.table("bundle", true)) {
    TableReader reader(*section, "[bundle]", diagnostics);
    bundle.name = reader.string("name", true).value_or("");
    std::string kind = reader.string("kind", true).value_or("split");
    std::optional<planner::Strategy> strategy = planner::strategyFromName(kind);
    if (!strategy || *strategy == planner::Strategy::Auto)
      reader.error("kind", fmt::format("is \"{}\"; expected split, clio, nonn or early_exit", kind));
    else if (*strategy != planner::Strategy::Split)
      reader.error("kind", fmt::format("is \"{}\", which this version of cleave cannot load yet", kind));
    else
      bundle.kind = *strategy;
    if (std::optional<std::string> model = reader.string("model", true)) {
      bundle.modelFile = (std::filesystem::path(file).parent_path() / *model).string();
      if (!std::filesystem::exists(bundle.modelFile))
        reader.error("model", fmt::format("\"{}\" does not exist", bundle.modelFile));
    }
    reader.string("input", false);
    if (const toml::node* classes = reader.node("classes")) {
      const toml::array* list = classes->as_array();
      if (!list) reader.error("classes", "must be an array of strings");
      else
        for (const toml::node& c : *list)
          if (c.is_string()) bundle.classes.push_back(*c.value<std::string>());
          else reader.error("classes", "must be an array of strings");
    }
    reader.finish({"name", "kind", "model", "input", "classes"});
  }
  if (const toml::table* accuracy = top.table("accuracy", false)) {
    TableReader reader(*accuracy, "[accuracy]", diagnostics);
    reader.string("dataset", false);
    bundle.top1 = reader.number("top1", false);
    reader.finish({"dataset", "top1"});
  }
  top.finish({"bundle", "accuracy"});
  if (diagnostics.failed()) return diagnostics.toError();
  return {};
}

}  // namespace

Result<ModelBundle> loadBundle(const std::string& path, bool optimize) {
  ModelBundle bundle;
  bundle.path = path;
  std::filesystem::path p(path);
  if (std::filesystem::is_directory(p)) {
    CLEAVE_TRY(readManifest((p / "bundle.toml").string(), bundle));
  } else {
    bundle.name = p.stem().string();
    bundle.modelFile = path;
  }
  Result<Graph> graph = importOnnxFile(bundle.modelFile);
  if (!graph) return graph.error();
  if (optimize) {
    Status status = optimizeGraph(*graph);
    if (!status) return Error{fmt::format("{}: {}", bundle.modelFile, status.error().message)};
  }
  Result<CostReport> report = buildCostReport(*graph);
  if (!report) return Error{fmt::format("{}: {}", bundle.modelFile, report.error().message)};
  bundle.graph = std::move(*graph);
  bundle.report = std::move(*report);
  return bundle;
}

planner::ModelCosts modelCosts(const CostReport& report) {
  planner::ModelCosts costs;
  costs.name = report.modelName;
  for (const NodeCost& node : report.nodes)
    costs.nodes.push_back({node.name, static_cast<planner::OpClass>(node.opClass), node.macs, node.weightBytes,
                           node.liveBytes, node.kernelBytes, node.workspaceBytes});
  for (const CutCost& cut : report.cuts) costs.cutBytes.push_back(cut.bytes);
  return costs;
}

std::vector<planner::Strategy> allowedStrategies(planner::Strategy kind) { return {kind}; }

}  // namespace cleave::config

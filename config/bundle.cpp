#include "config/bundle.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "config/toml_reader.h"
#include "runtime/analysis.h"
#include "runtime/onnx_import.h"
#include "runtime/passes/optimize.h"

namespace cleave::config {
namespace {

// [[student]] model, output, top1_alone, top1_without (and the training's own figures).
void readStudents(const toml::node* node, const std::string& file, ModelBundle& bundle, Diagnostics& diagnostics) {
  const toml::array* list = node ? node->as_array() : nullptr;
  if (!list || list->empty() || !list->is_array_of_tables()) {
    diagnostics.error(node ? node->source() : toml::source_region{},
                      "a nonn bundle needs [[student]] tables, one per student graph");
    return;
  }
  for (size_t k = 0; k < list->size(); ++k) {
    TableReader reader(*list->get(k)->as_table(), fmt::format("[[student]] {}", k), diagnostics);
    NonnStudentGraph student;
    if (std::optional<std::string> model = reader.string("model", true)) student.file = graphPath(file, *model, reader, "model");
    student.output = reader.string("output", true).value_or("");
    student.top1Alone = reader.number("top1_alone", false);
    student.top1Without = reader.number("top1_without", false);
    // The training's own figures, for people: the runtime measures the graphs itself.
    reader.integer("features", false);
    reader.node("filters");
    reader.integer("parameters", false);
    reader.integer("macs", false);
    reader.finish({"model", "output", "top1_alone", "top1_without", "features", "filters", "parameters", "macs"});
    bundle.nonn->students.push_back(std::move(student));
  }
}

// bundle.toml: [bundle] name, kind, model, input, classes (nonn: fusion, fusion_output, teacher);
// [[student]] (nonn); [accuracy] dataset, top1 (nonn: teacher_top1).
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
    else if (*strategy == planner::Strategy::Clio)
      reader.error("kind", fmt::format("is \"{}\", which this version of cleave cannot load yet", kind));
    else
      bundle.kind = *strategy;
    const bool nonn = bundle.kind == planner::Strategy::Nonn;
    const bool earlyExit = bundle.kind == planner::Strategy::EarlyExit;
    if (std::optional<std::string> model = reader.string("model", !nonn && !earlyExit))
      bundle.modelFile = graphPath(file, *model, reader, "model");
    if (nonn) {
      bundle.nonn.emplace();
      if (std::optional<std::string> fusion = reader.string("fusion", true))
        bundle.nonn->fusion.file = graphPath(file, *fusion, reader, "fusion");
      bundle.nonn->output = reader.string("fusion_output", true).value_or("");
      reader.string("teacher", false);
      reader.integer("fusion_parameters", false);
      reader.integer("fusion_macs", false);
      readStudents(top.node("student"), file, bundle, diagnostics);
    }
    if (earlyExit) readEarlyExitManifest(reader, top.node("block"), file, bundle, diagnostics);
    reader.string("input", false);
    if (const toml::node* classes = reader.node("classes")) {
      const toml::array* list = classes->as_array();
      if (!list) reader.error("classes", "must be an array of strings");
      else
        for (const toml::node& c : *list)
          if (c.is_string()) bundle.classes.push_back(*c.value<std::string>());
          else reader.error("classes", "must be an array of strings");
    }
    reader.finish({"name", "kind", "model", "input", "classes", "fusion", "fusion_output", "fusion_parameters",
                   "fusion_macs", "teacher", "statistics", "statistics_split", "confidence", "hard_classes"});
  }
  if (const toml::table* accuracy = top.table("accuracy", false)) {
    TableReader reader(*accuracy, "[accuracy]", diagnostics);
    reader.string("dataset", false);
    bundle.top1 = reader.number("top1", false);
    reader.number("teacher_top1", false);
    reader.node("exit_top1");  // early_exit: each exit's own accuracy, for people
    reader.finish({"dataset", "top1", "teacher_top1", "exit_top1"});
  }
  if (bundle.kind == planner::Strategy::Nonn)
    top.finish({"bundle", "accuracy", "student"});
  else if (bundle.kind == planner::Strategy::EarlyExit)
    top.finish({"bundle", "accuracy", "block"});
  else
    top.finish({"bundle", "accuracy"});
  if (diagnostics.failed()) return diagnostics.toError();
  return {};
}

// Imports, optimises (when asked) and costs one graph file.
Status loadGraph(const std::string& file, bool optimize, Graph& graph, CostReport& report) {
  Result<Graph> imported = importOnnxFile(file);
  if (!imported) return imported.error();
  if (optimize) {
    Status status = optimizeGraph(*imported);
    if (!status) return Error{fmt::format("{}: {}", file, status.error().message)};
  }
  Result<CostReport> costs = buildCostReport(*imported);
  if (!costs) return Error{fmt::format("{}: {}", file, costs.error().message)};
  graph = std::move(*imported);
  report = std::move(*costs);
  return {};
}

// The students read one input and send one named output each; the fusion reads exactly those.
Status checkNonnGraphs(const NonnGraphs& nonn) {
  std::map<std::string, TensorType> features;
  for (const NonnStudentGraph& student : nonn.students) {
    const Graph& g = student.graph;
    if (g.inputs.size() != 1)
      return Error{fmt::format("{}: a student reads one input, this one {}", student.file, g.inputs.size())};
    const ValueInfo& input = g.inputs.front();
    const ValueInfo& first = nonn.students.front().graph.inputs.front();
    if (input.name != first.name || !(input.type == first.type))
      return Error{fmt::format("{}: its input '{}' is not the first student's '{}' of the same type", student.file,
                               input.name, first.name)};
    auto output = std::find_if(g.outputs.begin(), g.outputs.end(),
                               [&](const ValueInfo& v) { return v.name == student.output; });
    if (g.outputs.size() != 1 || output == g.outputs.end())
      return Error{fmt::format("{}: a student has one output, named '{}' in bundle.toml", student.file, student.output)};
    // Declared output types may be lost to the optimiser's rewrites; the analysis has the truth.
    Result<GraphAnalysis> analysis = analyzeGraph(g);
    if (!analysis) return Error{fmt::format("{}: {}", student.file, analysis.error().message)};
    if (!features.emplace(output->name, analysis->typeOf(output->name)).second)
      return Error{fmt::format("{}: two students send '{}'", student.file, output->name)};
  }
  const Graph& fusion = nonn.fusion.graph;
  if (fusion.inputs.size() != features.size() || fusion.outputs.size() != 1)
    return Error{fmt::format("{}: the fusion reads the {} students' outputs and has one output", nonn.fusion.file,
                             features.size())};
  if (fusion.outputs.front().name != nonn.output)
    return Error{fmt::format("{}: its output is '{}', bundle.toml's fusion_output '{}'", nonn.fusion.file,
                             fusion.outputs.front().name, nonn.output)};
  for (const ValueInfo& input : fusion.inputs) {
    auto feature = features.find(input.name);
    if (feature == features.end())
      return Error{fmt::format("{}: its input '{}' is no student's output", nonn.fusion.file, input.name)};
    if (!(feature->second == input.type))
      return Error{fmt::format("{}: its input '{}' is {}, the student sends {}", nonn.fusion.file, input.name,
                               input.type.toString(), feature->second.toString())};
  }
  return {};
}

}  // namespace

std::string graphPath(const std::string& manifest, const std::string& name, TableReader& reader, std::string_view key) {
  std::string path = (std::filesystem::path(manifest).parent_path() / name).string();
  if (!std::filesystem::exists(path)) reader.error(key, fmt::format("\"{}\" does not exist", path));
  return path;
}

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
  if (!bundle.modelFile.empty()) CLEAVE_TRY(loadGraph(bundle.modelFile, optimize, bundle.graph, bundle.report));
  if (bundle.nonn) {
    for (NonnStudentGraph& student : bundle.nonn->students)
      CLEAVE_TRY(loadGraph(student.file, optimize, student.graph, student.report));
    CLEAVE_TRY(loadGraph(bundle.nonn->fusion.file, optimize, bundle.nonn->fusion.graph, bundle.nonn->fusion.report));
    CLEAVE_TRY(checkNonnGraphs(*bundle.nonn));
    bundle.nonn->input = bundle.nonn->students.front().graph.inputs.front().name;
    // Requests are planned with either graph set, so they must take the same input.
    if (!bundle.modelFile.empty()) {
      const std::vector<ValueInfo>& split = bundle.graph.inputs;
      const ValueInfo& student = bundle.nonn->students.front().graph.inputs.front();
      if (split.size() != 1 || split.front().name != student.name || !(split.front().type == student.type))
        return Error{fmt::format("{}: its inputs are not the students' one input '{}' ({})", bundle.modelFile,
                                 student.name, student.type.toString())};
    }
  }
  if (bundle.earlyExit) {
    for (EarlyExitBlockGraph& block : bundle.earlyExit->blocks)
      CLEAVE_TRY(loadGraph(block.file, optimize, block.graph, block.report));
    CLEAVE_TRY(finishEarlyExit(*bundle.earlyExit));
    if (!bundle.modelFile.empty()) {
      const std::vector<ValueInfo>& split = bundle.graph.inputs;
      const std::vector<ValueInfo>& first = bundle.earlyExit->blocks.front().graph.inputs;
      if (split.size() != first.size() || split.front().name != first.front().name ||
          !(split.front().type == first.front().type))
        return Error{fmt::format("{}: its inputs are not block 0's", bundle.modelFile)};
    }
  }
  return bundle;
}

const std::vector<ValueInfo>& ModelBundle::requestInputs() const {
  if (modelFile.empty() && nonn && !nonn->students.empty()) return nonn->students.front().graph.inputs;
  if (modelFile.empty() && earlyExit && !earlyExit->blocks.empty()) return earlyExit->blocks.front().graph.inputs;
  return graph.inputs;
}

planner::ModelCosts modelCosts(const CostReport& report) {
  planner::ModelCosts costs;
  costs.name = report.modelName;
  for (const NodeCost& node : report.nodes)
    costs.nodes.push_back({node.name, static_cast<planner::OpClass>(node.opClass), node.macs, node.weightBytes,
                           node.liveBytes, node.kernelBytes, node.workspaceBytes, node.int8});
  for (const CutCost& cut : report.cuts) costs.cutBytes.push_back(cut.bytes);
  return costs;
}

planner::NonnModel nonnModel(const NonnGraphs& graphs, double top1) {
  planner::NonnModel model;
  model.input = graphs.input;
  model.output = graphs.output;
  for (const NonnStudentGraph& student : graphs.students)
    model.students.push_back({modelCosts(student.report), student.output, student.top1Without.value_or(0)});
  model.fusion = modelCosts(graphs.fusion.report);
  model.accuracy = top1;
  return model;
}

std::vector<planner::Strategy> allowedStrategies(const ModelBundle& bundle) {
  std::vector<planner::Strategy> allowed{bundle.kind};
  if (bundle.kind != planner::Strategy::Split && !bundle.modelFile.empty()) allowed.push_back(planner::Strategy::Split);
  return allowed;
}

}  // namespace cleave::config

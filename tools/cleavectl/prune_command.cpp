#include "tools/cleavectl/prune_command.h"

#include <fmt/format.h>

#include "runtime/analysis.h"
#include "runtime/onnx_export.h"
#include "runtime/onnx_import.h"
#include "runtime/passes/optimize.h"
#include "runtime/passes/prune.h"

namespace cleave::cli {
namespace {

struct PruneOptions {
  std::string model;
  double sparsity = 0.5;
  bool structured = false;
  std::string output;
};

int fail(const std::string& message) {
  fmt::print(stderr, "cleavectl: error: {}\n", message);
  return 1;
}

struct Totals {
  int64_t macs = 0, weightBytes = 0, zeros = 0;
};

Totals totals(const Graph& graph) {
  Totals t;
  Result<GraphAnalysis> analysis = analyzeGraph(graph);
  if (analysis)
    for (size_t n = 0; n < graph.nodes.size(); ++n)
      if (!analysis->constantNode[n]) t.macs += analysis->nodes[n].macs;
  for (const auto& [name, tensor] : graph.initializers) {
    t.weightBytes += static_cast<int64_t>(tensor.bytes());
    if (tensor.dtype() == DType::F32)
      for (float v : tensor.values<float>()) t.zeros += v == 0.0f;
  }
  return t;
}

int prune(const PruneOptions& options) {
  Result<Graph> imported = importOnnxFile(options.model);
  if (!imported) return fail(imported.error().message);
  Graph graph = std::move(imported).value();
  OptimizeOptions passes;  // BatchNorm folded first, so a removed filter takes its statistics along
  passes.fuseActivations = false;
  if (Status optimized = optimizeGraph(graph, nullptr, passes); !optimized)
    return fail(fmt::format("{}: {}", options.model, optimized.error().message));
  const Totals before = totals(graph);
  Result<PruneReport> report = pruneGraph(graph, options.sparsity, options.structured);
  if (!report) return fail(fmt::format("{}: {}", options.model, report.error().message));
  const Totals after = totals(graph);
  if (Status written = exportOnnxFile(graph, options.output); !written) return fail(written.error().message);
  if (options.structured)
    fmt::print(
        "{}: {} filters removed from {} layers ({} layers kept whole: their channels meet an Add, Concat or "
        "output)\n",
        options.model, report->filtersRemoved, report->layers, report->skippedLayers);
  else
    fmt::print("{}: {} weights set to 0 in {} layers (stored densely: the file and MACs stay as they were)\n",
               options.model, report->weightsZeroed, report->layers);
  fmt::print("MACs {} -> {}; weight bytes {} -> {}; zero weights {} -> {}\nwrote {}\n", before.macs, after.macs,
             before.weightBytes, after.weightBytes, before.zeros, after.zeros, options.output);
  return 0;
}

}  // namespace

void addPruneCommand(CLI::App& model, int& exitCode) {
  auto options = std::make_shared<PruneOptions>();
  CLI::App* cmd = model.add_subcommand("prune", "Magnitude pruning per layer, without retraining");
  cmd->add_option("model", options->model, "ONNX model")->required();
  cmd->add_option("--sparsity", options->sparsity, "Share of each layer's weights (or filters) to remove")->required();
  cmd->add_flag("--structured", options->structured,
                "Remove whole filters and shrink their consumers (saves flash, RAM and MACs)");
  cmd->add_option("-o,--output", options->output, "Output ONNX file")->required();
  cmd->callback([options, &exitCode] { exitCode = prune(*options); });
}

}  // namespace cleave::cli

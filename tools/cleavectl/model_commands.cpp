#include "tools/cleavectl/model_commands.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "runtime/cost_report.h"
#include "runtime/fast_kernels.h"
#include "runtime/npy.h"
#include "runtime/onnx_export.h"
#include "runtime/onnx_import.h"
#include "runtime/passes/optimize.h"
#include "runtime/session.h"
#include "tools/cleavectl/evaluate_command.h"
#include "tools/cleavectl/export_c_command.h"
#include "tools/cleavectl/prune_command.h"
#include "tools/cleavectl/quantize_command.h"

namespace cleave::cli {
namespace {

int fail(const std::string& message) {
  fmt::print(stderr, "cleavectl: error: {}\n", message);
  return 1;
}

std::string humanBytes(int64_t bytes) {
  if (bytes >= (int64_t{1} << 20)) return fmt::format("{:.2f} MiB", static_cast<double>(bytes) / (1 << 20));
  if (bytes >= 1024) return fmt::format("{:.1f} KiB", static_cast<double>(bytes) / 1024);
  return fmt::format("{} B", bytes);
}

std::string humanCount(int64_t n) {
  if (n >= 1'000'000'000) return fmt::format("{:.2f}G", static_cast<double>(n) / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.2f}M", static_cast<double>(n) / 1e6);
  if (n >= 1'000) return fmt::format("{:.1f}k", static_cast<double>(n) / 1e3);
  return std::to_string(n);
}

// Imports a model and, unless told not to, runs the graph passes on it.
Result<Graph> loadModel(const std::string& path, bool optimize, OptimizeReport* report = nullptr) {
  Result<Graph> graph = importOnnxFile(path);
  if (!graph) return graph;
  if (optimize) {
    Status status = optimizeGraph(*graph, report);
    if (!status) return Error{fmt::format("{}: {}", path, status.error().message)};
  }
  return graph;
}

struct InspectOptions {
  std::string model;
  bool json = false;
  bool optimize = false;
};

int inspect(const InspectOptions& options) {
  Result<Graph> graph = loadModel(options.model, options.optimize);
  if (!graph) return fail(graph.error().message);
  Result<CostReport> report = buildCostReport(*graph);
  if (!report) return fail(fmt::format("{}: {}", options.model, report.error().message));
  Result<std::unique_ptr<Session>> session = Session::create(*graph);
  if (!session) return fail(fmt::format("{}: {}", options.model, session.error().message));
  if (options.json) {
    fmt::print("{}", costReportJson(*report));
    return 0;
  }
  fmt::print("model {} (opset {}), {} runnable nodes\n\n", options.model, graph->opset, report->nodes.size());
  fmt::print("{:>4}  {:<36} {:<20} {:<12} {:<20} {:>10} {:>12} {:>12}\n", "#", "node", "op", "class", "output",
             "MACs", "weights", "output");
  for (size_t i = 0; i < report->nodes.size(); ++i) {
    const NodeCost& n = report->nodes[i];
    fmt::print("{:>4}  {:<36} {:<20} {:<12} {:<20} {:>10} {:>12} {:>12}\n", i, n.name.substr(0, 36), n.opType,
               opClassName(n.opClass), n.outputShape, humanCount(n.macs), humanBytes(n.weightBytes),
               humanBytes(n.outputBytes));
  }
  fmt::print("\ncuts (position p runs nodes < p before the cut):\n");
  fmt::print("{:>4}  {:>12} {:>8} {:>14} {:>14}\n", "p", "sent", "tensors", "peak before", "peak after");
  for (const CutCost& c : report->cuts)
    fmt::print("{:>4}  {:>12} {:>8} {:>14} {:>14}\n", c.position, humanBytes(c.bytes), c.tensors.size(),
               humanBytes(c.peakBefore), humanBytes(c.peakAfter));
  fmt::print("\ntotal: {} MACs, {} of weights, peak activations {} (ideal) / {} (arena)\n",
             humanCount(report->totalMacs), humanBytes(report->totalWeightBytes),
             humanBytes(report->peakActivationBytes), humanBytes((*session)->arenaBytes()));
  return 0;
}

struct RunOptions {
  std::string model;
  std::string input;
  std::string output;
  int repeat = 0;
  int threads = 1;
  bool profile = false;
  std::string profileCsv;  // every node's time, for comparing with another runtime's profile
  bool noOptimize = false;
};

// node,op,ms_per_run,macs for every node in run order; names are quoted as CSV wants.
Status writeProfileCsv(const std::string& path, const std::vector<NodeProfile>& rows, int runs) {
  std::FILE* file = std::fopen(path.c_str(), "w");
  if (!file) return Error{fmt::format("{}: cannot write: {}", path, std::strerror(errno))};
  fmt::print(file, "node,op,ms_per_run,macs\n");
  for (const NodeProfile& r : rows) {
    std::string name;
    for (char c : r.name) name.append(c == '"' ? 2 : 1, c);
    fmt::print(file, "\"{}\",{},{:.6f},{}\n", name, r.opType, r.totalMs / runs, r.macs);
  }
  bool ok = std::fclose(file) == 0;
  if (!ok) return Error{fmt::format("{}: write failed", path)};
  return {};
}

void printProfile(const std::vector<NodeProfile>& rows, int runs) {
  double total = 0.0;
  std::map<std::string, std::pair<double, int64_t>> byOp;  // op -> (ms, macs)
  for (const NodeProfile& r : rows) {
    total += r.totalMs;
    byOp[r.opType].first += r.totalMs;
    byOp[r.opType].second += r.macs;
  }
  std::vector<std::pair<std::string, std::pair<double, int64_t>>> ops(byOp.begin(), byOp.end());
  std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  fmt::print("\nprofile by op ({} runs, ms per run):\n{:<22} {:>10} {:>7} {:>12}\n", runs, "op", "ms", "share", "GMAC/s");
  for (const auto& [op, cost] : ops) {
    double ms = cost.first / runs;
    fmt::print("{:<22} {:>10.3f} {:>6.1f}% {:>12.2f}\n", op, ms, 100.0 * cost.first / total,
               ms > 0 ? static_cast<double>(cost.second) / (ms * 1e6) : 0.0);
  }
  std::vector<NodeProfile> sorted = rows;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.totalMs > b.totalMs; });
  fmt::print("\nslowest nodes (ms per run):\n");
  for (size_t i = 0; i < std::min<size_t>(15, sorted.size()); ++i)
    fmt::print("{:<40} {:<18} {:>9.3f}  {:>8} MACs\n", sorted[i].name.substr(0, 40), sorted[i].opType,
               sorted[i].totalMs / runs, humanCount(sorted[i].macs));
}

int run(const RunOptions& options) {
  Result<Graph> graph = loadModel(options.model, !options.noOptimize);
  if (!graph) return fail(graph.error().message);
  Result<Tensor> input = readNpy(options.input);
  if (!input) return fail(input.error().message);
  if (graph->inputs.size() != 1)
    return fail(fmt::format("{}: model has {} inputs; `model run` feeds one", options.model, graph->inputs.size()));
  if (input->type() != graph->inputs[0].type)
    return fail(fmt::format("{}: model input '{}' expects {}, the file holds {}", options.input, graph->inputs[0].name,
                            graph->inputs[0].type.toString(), input->type().toString()));
  const bool profile = options.profile || !options.profileCsv.empty();
  Result<std::unique_ptr<Session>> session =
      Session::create(*graph, SessionOptions{std::max(1, options.threads), profile});
  if (!session) return fail(fmt::format("{}: {}", options.model, session.error().message));

  Result<std::vector<Tensor>> outputs = (*session)->run({*input});
  if (!outputs) return fail(outputs.error().message);
  for (size_t i = 0; i < outputs->size(); ++i) {
    const Tensor& out = (*outputs)[i];
    fmt::print("output '{}': {}", (*session)->outputs()[i].name, out.type().toString());
    if (out.dtype() == DType::F32 && out.numel() > 0) {
      auto values = out.values<float>();
      auto best = std::max_element(values.begin(), values.end());
      fmt::print(", argmax {} ({:.5g})", best - values.begin(), *best);
    }
    fmt::print("\n");
  }
  if (!options.output.empty()) {
    Status written = writeNpy(options.output, (*outputs)[0]);
    if (!written) return fail(written.error().message);
  }
  if (options.repeat > 0) {
    // Which kernels ran depends on the build and the CPU (fast_kernels.h): say so beside the figures.
    fmt::print("kernels: {}, constant-weight products on {}\n", fastKernelLibrary(), fastGemmEngine());
    // At least WARMUP_RUNS, and as many as a threaded session takes to choose whether its pool pays.
    constexpr int WARMUP_RUNS = 3;
    for (int i = 0; i < WARMUP_RUNS || (*session)->measuringThreads(); ++i)
      if (Result<std::vector<Tensor>> warm = (*session)->run({*input}); !warm) return fail(warm.error().message);
    (*session)->resetProfile();
    std::vector<double> ms;
    for (int i = 0; i < options.repeat; ++i) {
      auto start = std::chrono::steady_clock::now();
      Result<std::vector<Tensor>> timed = (*session)->run({*input});
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
      if (!timed) return fail(timed.error().message);
    }
    std::sort(ms.begin(), ms.end());
    double median = ms[ms.size() / 2];
    double p95 = ms[std::min(ms.size() - 1, static_cast<size_t>(0.95 * static_cast<double>(ms.size())))];
    fmt::print("latency over {} runs ({} thread{}): median {:.3f} ms, p95 {:.3f} ms, min {:.3f} ms\n", options.repeat,
               options.threads, options.threads == 1 ? "" : "s", median, p95, ms.front());
    if (options.threads > 1) fmt::print("threads: {}\n", (*session)->threadsChoice());
  }
  const int profiledRuns = std::max(1, options.repeat);
  if (options.profile) printProfile((*session)->profile(), profiledRuns);
  if (!options.profileCsv.empty()) {
    Status written = writeProfileCsv(options.profileCsv, (*session)->profile(), profiledRuns);
    if (!written) return fail(written.error().message);
  }
  return 0;
}

struct OptimizeOptions {
  std::string model;
  std::string output;
};

int optimize(const OptimizeOptions& options) {
  Result<Graph> original = importOnnxFile(options.model);
  if (!original) return fail(original.error().message);
  size_t before = original->nodes.size();
  Graph graph = *original;
  OptimizeReport report;
  Status status = optimizeGraph(graph, &report);
  if (!status) return fail(fmt::format("{}: {}", options.model, status.error().message));
  Status written = exportOnnxFile(graph, options.output);
  if (!written) return fail(written.error().message);
  fmt::print("{}: {} nodes -> {} nodes\n", options.model, before, graph.nodes.size());
  for (const auto& [pass, count] : report.counts()) fmt::print("  {:<24} {}\n", pass, count);
  fmt::print("wrote {}\n", options.output);
  return 0;
}

}  // namespace

void addModelCommands(CLI::App& app, int& exitCode) {
  CLI::App* model = app.add_subcommand("model", "Inspect, run and optimize ONNX models");
  model->require_subcommand(1);

  auto inspectOptions = std::make_shared<InspectOptions>();
  CLI::App* inspectCmd = model->add_subcommand("inspect", "Per-node costs, cut table, totals and peak memory");
  inspectCmd->add_option("model", inspectOptions->model, "ONNX model")->required();
  inspectCmd->add_flag("--json", inspectOptions->json, "Machine-readable cost report (the planner's input)");
  inspectCmd->add_flag("--optimize", inspectOptions->optimize, "Apply the graph passes first");
  inspectCmd->callback([inspectOptions, &exitCode] { exitCode = inspect(*inspectOptions); });

  auto runOptions = std::make_shared<RunOptions>();
  CLI::App* runCmd = model->add_subcommand("run", "Run a model on a .npy input");
  runCmd->add_option("model", runOptions->model, "ONNX model")->required();
  runCmd->add_option("--input", runOptions->input, "Input tensor (.npy)")->required();
  runCmd->add_option("--output", runOptions->output, "Write output 0 here (.npy)");
  runCmd->add_option("--repeat", runOptions->repeat, "Time N runs after a warm-up; print median and p95")
      ->check(CLI::Range(1, 1000000));
  runCmd->add_option("--threads", runOptions->threads, "Intra-op threads")->check(CLI::Range(1, 256));
  runCmd->add_flag("--profile", runOptions->profile, "Time every node and print a per-op profile");
  runCmd->add_option("--profile-csv", runOptions->profileCsv, "Write every node's time per run to this CSV file");
  runCmd->add_flag("--no-optimize", runOptions->noOptimize, "Run the graph exactly as stored (no passes)");
  runCmd->callback([runOptions, &exitCode] { exitCode = run(*runOptions); });

  auto optimizeOptions = std::make_shared<OptimizeOptions>();
  CLI::App* optimizeCmd = model->add_subcommand("optimize", "Apply the graph passes and write ONNX");
  optimizeCmd->add_option("model", optimizeOptions->model, "ONNX model")->required();
  optimizeCmd->add_option("-o,--output", optimizeOptions->output, "Output ONNX file")->required();
  optimizeCmd->callback([optimizeOptions, &exitCode] { exitCode = optimize(*optimizeOptions); });

  addQuantizeCommand(*model, exitCode);
  addEvaluateCommand(*model, exitCode);
  addExportCCommand(*model, exitCode);
  addPruneCommand(*model, exitCode);
}

}  // namespace cleave::cli

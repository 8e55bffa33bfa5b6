#include "runtime/device_benchmark.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "runtime/graph.h"
#include "runtime/session.h"

namespace cleave {
namespace {

// Runs before timing starts: the first run faults in the arena's pages and fills the caches.
constexpr int WARMUP_RUNS = 2;
// A median of fewer runs than this is noise, so a tiny budget still gets these.
constexpr int MIN_RUNS = 5;
// Upper bound on any timing loop, whatever the budget and however fast the graph.
constexpr int MAX_RUNS = 1'000'000;
// Length of the chain of tiny nodes: long enough that the per-run costs outside the nodes
// (input checks, the output copy) are well under 1% of the run.
constexpr int64_t OVERHEAD_CHAIN_NODES = 256;
// Share of the budget for the node-overhead chain; the rest is split evenly across the four classes.
constexpr double OVERHEAD_BUDGET_SHARE = 0.12;
constexpr double MAX_SECONDS = 3600.0;
constexpr int MAX_THREADS = 256;

// Builds a benchmark graph in memory: random inputs (kept to feed every run) and random
// constant weights, as a real model's initializers (some kernels, e.g. Winograd, need
// constant weights to take their fast path).
class BenchGraph {
 public:
  explicit BenchGraph(std::string name, uint32_t seed) : engine_(seed) { graph_.name = std::move(name); }

  // A graph input with random values in [-1, 1).
  std::string input(const Shape& shape) {
    std::string name = fmt::format("x{}", graph_.inputs.size());
    graph_.inputs.push_back({name, {DType::F32, shape}});
    inputs_.push_back(random(shape, 1.0f));
    return name;
  }

  // A constant weight with random values in [-0.1, 0.1).
  std::string weight(const Shape& shape) {
    std::string name = fmt::format("w{}", graph_.initializers.size());
    graph_.initializers[name] = random(shape, 0.1f);
    return name;
  }

  // A constant scalar (Clip's bounds).
  std::string scalar(float value) {
    std::string name = fmt::format("w{}", graph_.initializers.size());
    graph_.initializers[name] = Tensor::scalar(value);
    return name;
  }

  // Appends a node; returns its output's name.
  std::string node(const std::string& opType, std::vector<std::string> nodeInputs, Attributes attributes = {}) {
    Node n;
    n.name = fmt::format("{}_{}", opType, graph_.nodes.size());
    n.opType = opType;
    n.inputs = std::move(nodeInputs);
    n.outputs = {n.name + "_out"};
    n.attributes = std::move(attributes);
    graph_.nodes.push_back(std::move(n));
    return graph_.nodes.back().outputs[0];
  }

  void output(const std::string& value) { graph_.outputs.push_back({value, {}}); }

  // A 2-D convolution (NCHW, square kernel, "same"-style padding) of a fresh input.
  void conv(int64_t inChannels, int64_t outChannels, int64_t size, int64_t kernel, int64_t stride, int64_t group = 1) {
    Attributes a;
    a.set("kernel_shape", std::vector<int64_t>{kernel, kernel});
    a.set("strides", std::vector<int64_t>{stride, stride});
    a.set("pads", std::vector<int64_t>(4, kernel / 2));
    a.set("group", group);
    std::string x = input({1, inChannels, size, size});
    std::string w = weight({outChannels, inChannels / group, kernel, kernel});
    std::string b = weight({outChannels});
    output(node("Conv", {x, w, b}, std::move(a)));
  }

  // A batch-1 fully connected layer as PyTorch exports it: Gemm(x, W^T) + bias.
  void gemm(int64_t in, int64_t out) {
    Attributes a;
    a.set("transB", int64_t{1});
    std::string x = input({1, in});
    output(node("Gemm", {x, weight({out, in}), weight({out})}, std::move(a)));
  }

  const Graph& graph() const { return graph_; }
  const std::vector<Tensor>& inputs() const { return inputs_; }

 private:
  Tensor random(const Shape& shape, float scale) {
    std::uniform_real_distribution<float> dist(-scale, scale);
    Tensor t = Tensor::zeros(DType::F32, shape);
    for (float& v : t.values<float>()) v = dist(engine_);
    return t;
  }

  Graph graph_;
  std::vector<Tensor> inputs_;
  std::mt19937 engine_;
};

// Convolutions typical of the CNNs cleave splits, weighted by what they cost rather than by
// how often they occur: ResNet's 3x3 stride-1 body (64->64 on 56x56, which takes the Winograd
// path) and a small one (32->32 on 28x28, like the example Fashion-MNIST models), a 3x3
// stride-2 downsampling conv (im2col path), MobileNetV2's 1x1 expand/project pair (plain GEMM
// path; 1x1 convolutions are OpClass::Conv) and a 3-channel stem. About 213M MACs per run.
BenchGraph convGraph() {
  BenchGraph g("bench_conv", 1);
  g.conv(64, 64, 56, 3, 1);   // 115.6M MACs
  g.conv(32, 32, 28, 3, 1);   // 7.2M
  g.conv(64, 128, 56, 3, 2);  // 57.8M
  g.conv(24, 144, 56, 1, 1);  // 10.8M
  g.conv(144, 24, 56, 1, 1);  // 10.8M
  g.conv(3, 32, 224, 3, 2);   // 10.8M
  return g;
}

// Depthwise 3x3 layers of MobileNetV2 (group == channels is OpClass::Depthwise): stride 1 and 2
// on 144 channels at 56x56, the wide early layer (32 channels at 112x112) and a deep one (576
// channels at 14x14). About 9.7M MACs per run.
BenchGraph depthwiseGraph() {
  BenchGraph g("bench_depthwise", 2);
  g.conv(144, 144, 56, 3, 1, 144);  // 4.1M MACs
  g.conv(144, 144, 56, 3, 2, 144);  // 1.0M
  g.conv(32, 32, 112, 3, 1, 32);    // 3.6M
  g.conv(576, 576, 14, 3, 1, 576);  // 1.0M
  return g;
}

// Batch-1 classifier heads, the Gemm class's real workload (weight-bandwidth bound): MobileNetV2's
// 1280->1000, ResNet18's 512->1000 and a small MLP layer 784->256. About 2M MACs per run.
BenchGraph gemmGraph() {
  BenchGraph g("bench_gemm", 3);
  g.gemm(1280, 1000);
  g.gemm(512, 1000);
  g.gemm(784, 256);
  return g;
}

// Elementwise-class ops as they remain in an optimised CNN (activations after fusion, residual
// adds, channel scaling, pools), on tensors of 60k-450k elements; MACs are what the analysis
// assigns (one per output element, kernel size per output element for MaxPool, one per input
// element for GlobalAveragePool). About 1.4M MACs per run.
BenchGraph elementwiseGraph() {
  BenchGraph g("bench_elementwise", 4);
  g.output(g.node("Relu", {g.input({1, 64, 56, 56})}));
  g.output(g.node("Add", {g.input({1, 64, 56, 56}), g.input({1, 64, 56, 56})}));
  g.output(g.node("Mul", {g.input({1, 144, 56, 56}), g.weight({1, 144, 1, 1})}));
  // ReLU6, as MobileNet exports it (opset 13: bounds are inputs).
  std::string lo = g.scalar(0.0f), hi = g.scalar(6.0f);
  g.output(g.node("Clip", {g.input({1, 96, 56, 56}), lo, hi}));
  Attributes pool;
  pool.set("kernel_shape", std::vector<int64_t>{2, 2});
  pool.set("strides", std::vector<int64_t>{2, 2});
  g.output(g.node("MaxPool", {g.input({1, 64, 56, 56})}, std::move(pool)));
  g.output(g.node("GlobalAveragePool", {g.input({1, 1280, 7, 7})}));
  return g;
}

// A chain of tiny Relus: nearly all of its time is per-node cost.
BenchGraph overheadGraph() {
  BenchGraph g("bench_overhead", 5);
  std::string value = g.input({1, 16});
  for (int64_t i = 0; i < OVERHEAD_CHAIN_NODES; ++i) value = g.node("Relu", {value});
  g.output(value);
  return g;
}

double median(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  size_t n = samples.size();
  return n % 2 == 1 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
}

// Calls `once` (which runs the graph and returns the seconds that count) WARMUP_RUNS times
// untimed, then until `budget` seconds of wall time have passed and at least MIN_RUNS samples
// are in.
Result<std::vector<double>> sample(double budget, const std::function<Result<double>()>& once) {
  for (int i = 0; i < WARMUP_RUNS; ++i)
    if (Result<double> warm = once(); !warm) return warm.error();
  std::vector<double> samples;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < MAX_RUNS; ++i) {
    Result<double> seconds = once();
    if (!seconds) return seconds.error();
    samples.push_back(*seconds);
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (static_cast<int>(samples.size()) >= MIN_RUNS && elapsed >= budget) break;
  }
  return samples;
}

std::string graphError(const Graph& graph, const std::string& message) {
  return fmt::format("benchmark graph '{}': {}", graph.name, message);
}

// Times the nodes of class `opClass` in `bench`: per run, the sum of those nodes' kernel times
// from the session's profile (so input checks and output copies, which belong to the node
// overhead, are left out).
Result<ClassMeasurement> measureClass(const BenchGraph& bench, OpClass opClass, const BenchmarkOptions& options,
                                      double budget) {
  const Graph& graph = bench.graph();
  Result<std::unique_ptr<Session>> created = Session::create(graph, SessionOptions{options.threads, true});
  if (!created) return Error{graphError(graph, created.error().message)};
  Session& session = **created;

  ClassMeasurement m;
  m.opClass = opClass;
  for (const NodeProfile& row : session.profile()) {
    // Layout conversions at the graph's edges are part of running these nodes; timed, not counted.
    if (row.layoutConversion) continue;
    // Guards against the runtime reclassifying an op, which would silently change the figure.
    if (row.opClass != opClass)
      return Error{graphError(graph, fmt::format("node '{}' ({}) is of class {}, expected {}", row.name, row.opType,
                                                 opClassName(row.opClass), opClassName(opClass)))};
    m.macsPerRun += row.macs;
    ++m.nodesPerRun;
  }
  if (m.macsPerRun <= 0) return Error{graphError(graph, "no MACs to time")};

  Result<std::vector<double>> samples = sample(budget, [&]() -> Result<double> {
    session.resetProfile();
    Result<std::vector<Tensor>> outputs = session.run(bench.inputs());
    if (!outputs) return Error{graphError(graph, outputs.error().message)};
    double ms = 0.0;
    for (const NodeProfile& row : session.profile()) ms += row.totalMs;
    return ms / 1e3;
  });
  if (!samples) return samples.error();
  m.runs = static_cast<int>(samples->size());
  m.medianSeconds = median(*samples);
  if (m.medianSeconds <= 0.0) return Error{graphError(graph, "the clock did not advance during a run")};
  return m;
}

}  // namespace

const ClassMeasurement* MeasuredProfile::find(OpClass opClass) const {
  for (const ClassMeasurement& c : classes)
    if (c.opClass == opClass) return &c;
  return nullptr;
}

Result<int64_t> readTotalRam(const std::string& meminfoPath) {
  std::ifstream file(meminfoPath);
  if (!file) return Error{fmt::format("{}: cannot open file", meminfoPath)};
  std::string line;
  // /proc/meminfo is a few dozen lines; the bound only guards against a strange file.
  for (int i = 0; i < 10'000 && std::getline(file, line); ++i) {
    if (line.rfind("MemTotal:", 0) != 0) continue;
    std::istringstream fields(line.substr(9));
    int64_t value = 0;
    std::string unit;
    // The kernel writes "kB" but means KiB.
    if (!(fields >> value >> unit) || unit != "kB" || value <= 0 || value > (int64_t{1} << 40))
      return Error{fmt::format("{}: cannot read MemTotal from '{}'", meminfoPath, line)};
    return value * 1024;
  }
  return Error{fmt::format("{}: no MemTotal line", meminfoPath)};
}

Result<MeasuredProfile> measureDeviceProfile(const BenchmarkOptions& options) {
  if (!std::isfinite(options.seconds) || options.seconds <= 0.0 || options.seconds > MAX_SECONDS)
    return Error{
        fmt::format("benchmark time must be more than 0 and at most {} seconds, got {}", MAX_SECONDS, options.seconds)};
  if (options.threads < 1 || options.threads > MAX_THREADS)
    return Error{fmt::format("threads must be 1 to {}, got {}", MAX_THREADS, options.threads)};

  MeasuredProfile profile;
  profile.threads = options.threads;
  profile.seconds = options.seconds;
  Result<int64_t> ram = readTotalRam();
  if (!ram) return ram.error();
  profile.ramBytes = *ram;

  const double classBudget = options.seconds * (1.0 - OVERHEAD_BUDGET_SHARE) / 4.0;
  const std::pair<OpClass, BenchGraph (*)()> classes[] = {
      {OpClass::Conv, convGraph},
      {OpClass::Depthwise, depthwiseGraph},
      {OpClass::Gemm, gemmGraph},
      {OpClass::Elementwise, elementwiseGraph},
  };
  for (const auto& [opClass, build] : classes) {
    Result<ClassMeasurement> m = measureClass(build(), opClass, options, classBudget);
    if (!m) return m.error();
    profile.classes.push_back(*m);
  }

  // The whole run, unprofiled: per-node cost includes what the profile leaves out.
  BenchGraph chain = overheadGraph();
  Result<std::unique_ptr<Session>> created = Session::create(chain.graph(), SessionOptions{options.threads, false});
  if (!created) return Error{graphError(chain.graph(), created.error().message)};
  Session& session = **created;
  Result<std::vector<double>> samples = sample(options.seconds * OVERHEAD_BUDGET_SHARE, [&]() -> Result<double> {
    auto start = std::chrono::steady_clock::now();
    Result<std::vector<Tensor>> outputs = session.run(chain.inputs());
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!outputs) return Error{graphError(chain.graph(), outputs.error().message)};
    return seconds;
  });
  if (!samples) return samples.error();
  profile.overheadNodes = OVERHEAD_CHAIN_NODES;
  profile.overheadRuns = static_cast<int>(samples->size());
  profile.nodeOverheadSeconds = median(*samples) / static_cast<double>(OVERHEAD_CHAIN_NODES);
  if (profile.nodeOverheadSeconds <= 0.0)
    return Error{graphError(chain.graph(), "the clock did not advance during a run")};
  return profile;
}

}  // namespace cleave

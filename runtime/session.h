// Session: a graph prepared for repeated inference. Creation analyses the graph, builds every
// kernel and lays activations out in one arena by liveness; run() then only checks its inputs
// and calls kernels. Not thread-safe: one run at a time per session (the arena is shared).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "runtime/analysis.h"
#include "runtime/graph.h"
#include "runtime/pool_choice.h"
#include "runtime/thread_pool.h"

namespace cleave {

struct SessionOptions {
  int threads = 1;       // intra-op threads; 1 runs everything on the caller's thread
  bool profile = false;  // time every node
  // Use the kernel library's channels-last kernels where they cover a node (fast_kernels.h);
  // false runs the portable kernels only (the reference the fast ones are tested against).
  bool fastKernels = true;
  // With threads > 1: measure the first runs with and without the pool and keep the faster
  // (pool_choice.h); false uses the pool from the first run on.
  bool measurePool = true;
};

struct NodeProfile {
  std::string name;
  std::string opType;
  OpClass opClass = OpClass::Other;
  int64_t macs = 0;
  double totalMs = 0.0;
  int64_t calls = 0;
  // A layout conversion the session inserted (name: the value converted), not a graph node.
  bool layoutConversion = false;
};

class Session {
 public:
  static Result<std::unique_ptr<Session>> create(const Graph& graph, SessionOptions options = {});
  ~Session();

  // Inputs in the order of graph.inputs, checked for dtype and shape. Outputs are fresh tensors.
  Result<std::vector<Tensor>> run(const std::vector<Tensor>& inputs);

  const std::vector<ValueInfo>& inputs() const { return inputs_; }
  const std::vector<ValueInfo>& outputs() const { return outputs_; }
  int64_t arenaBytes() const { return arenaBytes_; }
  int64_t peakLiveBytes() const { return peakLiveBytes_; }
  // Memory the kernels keep beyond the arena and the graph's constants: packed weights and
  // XNNPACK's indirection buffers (Kernel::heldBytes), and the one workspace they share
  // (the largest Kernel::workspaceBytes).
  int64_t kernelBytes() const { return heldBytes_ + workspace_.bytes(); }
  int64_t heldBytes() const { return heldBytes_; }
  int64_t workspaceBytes() const { return workspace_.bytes(); }
  // Nodes that run channels-last, and the layout conversions between the two layouts.
  int64_t nhwcNodes() const { return nhwcNodes_; }
  int64_t layoutConversions() const { return layoutConversions_; }
  // Per node that runs (constant nodes excluded), in execution order.
  std::vector<NodeProfile> profile() const;
  // Zeroes the profile counters (after warm-up runs).
  void resetProfile();
  // A threaded session measures its first runs with and without its pool (pool_choice.h):
  // true until it has decided. Single-threaded sessions never measure.
  bool measuringThreads() const { return pool_ && options_.measurePool && poolChoice_.measuring(); }
  // For reports: "one thread", "pool (not measured)" or PoolChoice::describe().
  std::string threadsChoice() const {
    return !pool_ ? "one thread" : options_.measurePool ? poolChoice_.describe() : "pool (not measured)";
  }

 private:
  struct Step {
    const Kernel* kernel = nullptr;
    std::unique_ptr<Kernel> conversion;  // owned kernel of a layout conversion
    std::string convertedValue;          // the value a conversion converts
    size_t node = 0;                 // index into graph nodes (unused for a conversion)
    std::vector<int64_t> inputSlots;  // -1 for omitted inputs
    std::vector<int64_t> outputSlots;
    std::vector<Tensor> inputScratch;
    std::vector<Tensor> outputs;  // arena views, fixed for the session's life
    bool alias = false;           // output 0 is a view of input 0
    bool threaded = true;         // runs on the pool (when the session has one); see session.cpp
    double totalMs = 0.0;
    int64_t calls = 0;
  };

  Session() = default;

  SessionOptions options_;
  Graph graph_;
  GraphAnalysis analysis_;
  std::vector<ValueInfo> inputs_;
  std::vector<ValueInfo> outputs_;
  std::vector<int64_t> inputSlots_;
  std::vector<int64_t> outputSlots_;
  std::vector<Tensor> values_;  // by slot
  std::vector<Step> steps_;
  PoolChoice poolChoice_;
  std::shared_ptr<std::byte> arena_;
  int64_t arenaBytes_ = 0;
  int64_t peakLiveBytes_ = 0;
  int64_t heldBytes_ = 0;
  Workspace workspace_;
  int64_t nhwcNodes_ = 0;
  int64_t layoutConversions_ = 0;
  std::unique_ptr<ThreadPool> pool_;
};

}  // namespace cleave

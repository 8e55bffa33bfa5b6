// Self-benchmark of this machine for the planner's device model: MAC/s per op class, the fixed
// time per executed node, and total RAM. It runs the runtime's own kernels on small in-memory
// graphs and counts MACs and op classes with the same analysis the cost report uses, so the
// figures are in exactly the units the planner divides by. No printing here: `cleavectl profile`
// formats the result.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/op.h"
#include "runtime/result.h"

namespace cleave {

// What to measure with: the time to spend and the session threading the agent will use.
struct BenchmarkOptions {
  double seconds = 3.0;  // total wall-clock budget for the timed runs (graph preparation excluded)
  int threads = 1;       // intra-op threads of every session, as SessionOptions::threads
};

// One op class's measurement: `macsPerRun` MACs of nodes of that class ran in a median of
// `medianSeconds` of kernel time per run, over `runs` timed runs.
struct ClassMeasurement {
  OpClass opClass = OpClass::Other;
  int64_t macsPerRun = 0;
  int64_t nodesPerRun = 0;
  double medianSeconds = 0.0;
  int runs = 0;
  double macsPerSecond() const { return static_cast<double>(macsPerRun) / medianSeconds; }
};

// Everything the profile measured, in MACs, seconds and bytes.
struct MeasuredProfile {
  // Conv, Depthwise, Gemm, Elementwise, in that order.
  std::vector<ClassMeasurement> classes;
  // Median run time of a chain of tiny nodes divided by its length: what a node costs beyond
  // its MACs (dispatch, input bookkeeping, the kernel's fixed start-up).
  double nodeOverheadSeconds = 0.0;
  int64_t overheadNodes = 0;
  int overheadRuns = 0;
  // MemTotal: total RAM, not what is free for cleave.
  int64_t ramBytes = 0;
  int threads = 1;
  double seconds = 0.0;

  // The measurement of one class; null when it was not measured.
  const ClassMeasurement* find(OpClass opClass) const;
};

// Runs the benchmark. Fails on bad options, on /proc/meminfo being unreadable, or (a bug) when a
// benchmark graph does not prepare.
Result<MeasuredProfile> measureDeviceProfile(const BenchmarkOptions& options);

// MemTotal from a meminfo file (Linux's /proc/meminfo format), in bytes.
Result<int64_t> readTotalRam(const std::string& meminfoPath = "/proc/meminfo");

}  // namespace cleave

// Model bundles: a folder with bundle.toml and its ONNX graphs, or a bare .onnx file (a `split`
// bundle). Loading one imports, optionally optimises, and costs its graphs for the planner.
//
// A `nonn` bundle holds K student graphs that read the same input and a fusion graph whose
// inputs are the students' outputs; an `early_exit` bundle holds blocks with exit heads and their
// exit statistics (config/early_exit_bundle.h). Either may name `model`, a graph of the same
// task the bundle can also be planned with by `split` (the teacher the students learnt from).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "config/early_exit_bundle.h"
#include "planner/problem.h"
#include "runtime/cost_report.h"
#include "runtime/graph.h"
#include "runtime/result.h"

namespace cleave::config {

// One graph of a bundle besides the split graph, as planned.
struct BundleGraph {
  std::string file;  // its ONNX file
  Graph graph;       // optimised unless asked not to
  CostReport report;
};

struct NonnStudentGraph : BundleGraph {
  std::string output;           // the features it sends to the fusion
  std::optional<double> top1Alone;    // fused accuracy with only this student's features
  std::optional<double> top1Without;  // fused accuracy with this student's features zeroed
};

struct NonnGraphs {
  std::string input;   // what every student reads
  std::string output;  // the fusion's result
  std::vector<NonnStudentGraph> students;
  BundleGraph fusion;
};

struct ModelBundle {
  std::string path;  // folder or .onnx file
  std::string name;
  planner::Strategy kind = planner::Strategy::Split;
  std::string modelFile;         // the split graph's ONNX file; empty when the bundle has none
  std::optional<double> top1;    // test accuracy from the manifest (nonn: every student fused)
  std::vector<std::string> classes;
  Graph graph;        // the split graph as planned: optimised unless asked not to
  CostReport report;  // of `graph`
  std::optional<NonnGraphs> nonn;  // kind nonn
  std::optional<EarlyExitGraphs> earlyExit;  // kind early_exit

  // What a request carries, whichever strategy runs it: the split graph's inputs, or (without
  // one) the students' or block 0's. A bundle with both has checked that they are the same.
  const std::vector<ValueInfo>& requestInputs() const;
};

Result<ModelBundle> loadBundle(const std::string& path, bool optimize);

// Where a graph file named in `manifest` at `key` lives; an error at the key when it is missing.
std::string graphPath(const std::string& manifest, const std::string& name, TableReader& reader, std::string_view key);

// The planner's view of a cost report.
planner::ModelCosts modelCosts(const CostReport& report);

// The planner's view of a nonn bundle's graphs.
planner::NonnModel nonnModel(const NonnGraphs& graphs, double top1);

// The strategies a bundle can be planned with: its kind, and split when it has a split graph.
std::vector<planner::Strategy> allowedStrategies(const ModelBundle& bundle);

}  // namespace cleave::config

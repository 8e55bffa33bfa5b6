// Model bundles: a folder with bundle.toml and its ONNX graphs, or a bare .onnx file (a `split`
// bundle). Loading one imports, optionally optimises, and costs its graph for the planner.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "planner/problem.h"
#include "runtime/cost_report.h"
#include "runtime/graph.h"
#include "runtime/result.h"

namespace cleave::config {

struct ModelBundle {
  std::string path;  // folder or .onnx file
  std::string name;
  planner::Strategy kind = planner::Strategy::Split;
  std::string modelFile;         // the split graph's ONNX file
  std::optional<double> top1;    // test accuracy from the manifest
  std::vector<std::string> classes;
  Graph graph;        // as planned: optimised unless asked not to
  CostReport report;  // of `graph`
};

Result<ModelBundle> loadBundle(const std::string& path, bool optimize);

// The planner's view of a cost report.
planner::ModelCosts modelCosts(const CostReport& report);

// The strategies a bundle of this kind can be planned with.
std::vector<planner::Strategy> allowedStrategies(planner::Strategy kind);

}  // namespace cleave::config

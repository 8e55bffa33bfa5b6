// The `early_exit` part of a bundle: blocks in order, each an ONNX graph ending in an exit head
// (class scores), and the exit statistics measured on held-out data (a CSV the manifest names).
//
// bundle.toml: [bundle] kind = "early_exit", statistics = "exit_stats.csv", confidence =
// "max_softmax" (the only rule), and per block, in order:
//   [[block]] model = "block0.onnx"  exit = "exit_0"  forward = ["features_0"]
//             thresholds = [0.0, 0.5, ...]   (candidates; every block but the last)
// A block reads the request's input or what earlier blocks `forward`; whatever later blocks
// still need travels along the chain, through blocks that do not read it.
//
// The CSV: '#' comment lines, a header `t0,...,t{E-1},exited_0,correct_0,...,exited_E,correct_E`
// (E + 1 blocks), then one row per combination of the candidates: how many held-out inputs
// finished at each exit and how many of those were right.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/toml_reader.h"
#include "planner/problem.h"
#include "runtime/cost_report.h"
#include "runtime/graph.h"
#include "runtime/result.h"

namespace cleave::config {

struct ModelBundle;

struct EarlyExitBlockGraph {
  std::string file;
  Graph graph;  // optimised unless asked not to
  CostReport report;
  std::string exit;                  // the exit head's output
  std::vector<std::string> forward;  // what later blocks read from it
  std::vector<double> thresholds;    // candidate thresholds; empty for the last block
};

struct EarlyExitGraphs {
  std::string statisticsFile;
  std::vector<EarlyExitBlockGraph> blocks;
  planner::ExitStatistics statistics;
  // receives[k]: what block k's stage gets from the stage before (block 0: the request's input).
  std::vector<std::vector<std::string>> receives;
  std::map<std::string, TensorType> types;  // every block input and output, by name
};

// Reads [[block]] tables and the [bundle] keys of an early_exit bundle into `bundle.earlyExit`.
void readEarlyExitManifest(TableReader& section, const toml::node* blocks, const std::string& file,
                           ModelBundle& bundle, Diagnostics& diagnostics);

// Once the graphs are loaded: checks the blocks' names against each other and the statistics,
// and works out what travels between blocks. Errors name the file.
Status finishEarlyExit(EarlyExitGraphs& graphs);

// Parses the statistics CSV for exits with these candidates (errors name file:line).
Result<planner::ExitStatistics> readExitStatistics(const std::string& file,
                                                    const std::vector<std::vector<double>>& candidates);

// The planner's view.
planner::EarlyExitModel earlyExitModel(const EarlyExitGraphs& graphs);

}  // namespace cleave::config

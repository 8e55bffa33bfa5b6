// What `cleavectl plan apply` sends: a plan written by hand, as TOML. Parsed here into the
// strategy's placement; the plan keeper checks and costs it. One table per strategy:
//   split:  strategy = "split"  route = ["cam", "pi1", "cloud"]  cuts = [12, 30]
//   nonn:   strategy = "nonn"   students = ["pi1", "pi2", "", "pi4"]  fusion = "pi1"
//   early_exit: strategy = "early_exit"  blocks = ["edge", "edge", "cloud"]  thresholds = [0.9, 0.95]
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "planner/plan.h"
#include "runtime/result.h"

namespace cleave::daemon {

struct AppliedPlan {
  planner::Strategy strategy = planner::Strategy::Split;
  std::vector<std::string> route;    // split: devices in order
  std::vector<int64_t> cuts;         // split: node positions
  std::vector<std::string> students; // nonn: a device per student, "" for one left out
  std::string fusion;                // nonn: the fusion's device
  std::vector<std::string> blocks;   // early_exit: a device per block
  std::vector<double> thresholds;    // early_exit: a threshold per exit but the last
};

// Errors start with "plan apply:" and name the key or the line.
Result<AppliedPlan> parsePlanApply(std::string_view toml);

}  // namespace cleave::daemon

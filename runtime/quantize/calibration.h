// Calibration for post-training quantisation: runs the float graph on sample inputs and records
// the range of every float activation, which fixes each activation's int8 scale and zero point.
// Two methods: the observed minimum and maximum (TFLite's converter does this), and percentiles
// of the observed values, which ignore a few outliers at the price of clipping them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "runtime/graph.h"
#include "runtime/result.h"
#include "runtime/tensor.h"

namespace cleave {

struct ValueRange {
  float min = 0.0f;
  float max = 0.0f;
};

enum class CalibrationMethod { MinMax, Percentile };

struct CalibrationOptions {
  CalibrationMethod method = CalibrationMethod::MinMax;
  // For Percentile: the range keeps this share of each value's elements at either end (99.99
  // drops the lowest and the highest 0.01%).
  double percentile = 99.99;
};

// One set of graph inputs per sample, in the order of graph.inputs.
using CalibrationSamples = std::vector<std::vector<Tensor>>;

// The range of every float value that is a graph input or a node output and is not a constant.
// The graph must analyse; samples are checked against the graph's inputs.
Result<std::map<std::string, ValueRange>> calibrateRanges(const Graph& graph, const CalibrationSamples& samples,
                                                          const CalibrationOptions& options = {});

}  // namespace cleave

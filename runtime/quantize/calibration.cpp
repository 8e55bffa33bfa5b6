#include "runtime/quantize/calibration.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "runtime/analysis.h"
#include "runtime/session.h"

namespace cleave {
namespace {

// Bins of the percentile method's histograms, over each value's observed [min, max]: 2048 (as
// ONNX Runtime's histogram calibrators use) puts a bin edge within 0.05% of the range of any
// percentile.
constexpr int64_t HISTOGRAM_BINS = 2048;

// The float values worth a range: graph inputs and node outputs that are not constants.
std::vector<ValueInfo> observedValues(const Graph& graph, const GraphAnalysis& analysis) {
  std::vector<ValueInfo> observed;
  auto consider = [&](const std::string& name) {
    if (name.empty() || analysis.isConstant(name)) return;
    const TensorType& type = analysis.typeOf(name);
    if (type.dtype == DType::F32) observed.push_back({name, type});
  };
  for (const ValueInfo& input : graph.inputs) consider(input.name);
  for (size_t i = 0; i < graph.nodes.size(); ++i)
    if (!analysis.constantNode[i])
      for (const std::string& output : graph.nodes[i].outputs) consider(output);
  return observed;
}

Status checkSamples(const Graph& graph, const CalibrationSamples& samples) {
  if (samples.empty()) return Error{"calibration needs at least one sample"};
  for (size_t s = 0; s < samples.size(); ++s) {
    if (samples[s].size() != graph.inputs.size())
      return Error{
          fmt::format("calibration sample {} has {} inputs, the model {}", s, samples[s].size(), graph.inputs.size())};
    for (size_t i = 0; i < graph.inputs.size(); ++i)
      if (samples[s][i].type() != graph.inputs[i].type)
        return Error{fmt::format("calibration sample {}: input '{}' expects {}, got {}", s, graph.inputs[i].name,
                                 graph.inputs[i].type.toString(), samples[s][i].type().toString())};
  }
  return {};
}

// Runs every sample and hands each observed value's tensor to `visit(index, values)`.
template <class Visit>
Status forEachObservation(Session& session, const CalibrationSamples& samples, size_t observedCount, Visit&& visit) {
  for (const std::vector<Tensor>& sample : samples) {
    Result<std::vector<Tensor>> outputs = session.run(sample);
    if (!outputs) return outputs.error();
    for (size_t v = 0; v < observedCount; ++v) visit(v, (*outputs)[v].values<float>());
  }
  return {};
}

// The bin in which the histogram's cumulative mass first reaches `share` of its total.
size_t quantileBin(const std::vector<int64_t>& bins, double share) {
  int64_t total = 0;
  for (int64_t count : bins) total += count;
  const double target = share * static_cast<double>(total);
  double seen = 0.0;
  for (size_t b = 0; b < bins.size(); ++b) {
    seen += static_cast<double>(bins[b]);
    if (seen >= target && seen > 0.0) return b;
  }
  return bins.size() - 1;
}

}  // namespace

Result<std::map<std::string, ValueRange>> calibrateRanges(const Graph& graph, const CalibrationSamples& samples,
                                                          const CalibrationOptions& options) {
  if (options.method == CalibrationMethod::Percentile && !(options.percentile > 50.0 && options.percentile <= 100.0))
    return Error{fmt::format("percentile {} is not in (50, 100]", options.percentile)};
  CLEAVE_TRY(checkSamples(graph, samples));
  Result<GraphAnalysis> analysis = analyzeGraph(graph);
  if (!analysis) return analysis.error();

  // The same graph with every observed value as an output, as ONNX Runtime's calibrators do it.
  Graph observing = graph;
  observing.outputs = observedValues(graph, *analysis);
  const size_t count = observing.outputs.size();
  Result<std::unique_ptr<Session>> session = Session::create(observing);
  if (!session) return session.error();

  std::vector<ValueRange> ranges(count, {INFINITY, -INFINITY});
  CLEAVE_TRY(forEachObservation(**session, samples, count, [&](size_t v, std::span<const float> values) {
    for (float x : values) {
      if (std::isnan(x)) continue;
      ranges[v].min = std::min(ranges[v].min, x);
      ranges[v].max = std::max(ranges[v].max, x);
    }
  }));

  if (options.method == CalibrationMethod::Percentile) {
    // A second pass: histograms over the ranges just found, then the quantiles at both ends.
    std::vector<std::vector<int64_t>> histograms(count, std::vector<int64_t>(HISTOGRAM_BINS, 0));
    CLEAVE_TRY(forEachObservation(**session, samples, count, [&](size_t v, std::span<const float> values) {
      const float low = ranges[v].min, span = ranges[v].max - ranges[v].min;
      if (!(span > 0.0f)) return;
      for (float x : values) {
        if (std::isnan(x)) continue;
        auto bin = static_cast<int64_t>(static_cast<double>(x - low) / static_cast<double>(span) * HISTOGRAM_BINS);
        ++histograms[v][static_cast<size_t>(std::clamp<int64_t>(bin, 0, HISTOGRAM_BINS - 1))];
      }
    }));
    const double tail = (100.0 - options.percentile) / 100.0;
    for (size_t v = 0; v < count; ++v) {
      if (!(ranges[v].max > ranges[v].min)) continue;
      // Widened to whole bins: the lower edge of the bin holding the lower quantile, the upper
      // edge of the one holding the upper, so an element repeated often at either end (0 after a
      // ReLU) stays inside the range exactly.
      const double low = ranges[v].min, width = (static_cast<double>(ranges[v].max) - low) / HISTOGRAM_BINS;
      const size_t lowerBin = quantileBin(histograms[v], tail), upperBin = quantileBin(histograms[v], 1.0 - tail);
      ranges[v].min = static_cast<float>(low + width * static_cast<double>(lowerBin));
      if (upperBin + 1 < static_cast<size_t>(HISTOGRAM_BINS))
        ranges[v].max = static_cast<float>(low + width * static_cast<double>(upperBin + 1));
    }
  }

  std::map<std::string, ValueRange> byName;
  for (size_t v = 0; v < count; ++v) {
    ValueRange range = ranges[v];
    if (range.min > range.max) range = {0.0f, 0.0f};  // every element was NaN
    byName[observing.outputs[v].name] = range;
  }
  return byName;
}

}  // namespace cleave

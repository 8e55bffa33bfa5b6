#include "runtime/passes/prune.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "runtime/analysis.h"
#include "runtime/passes/graph_edit.h"

namespace cleave {
namespace {

bool hasConstantWeights(const Graph& graph, const Node& node) {
  return (node.opType == "Conv" || node.opType == "Gemm" || node.opType == "MatMul") && node.domain.empty() &&
         node.inputs.size() >= 2 && graph.isInitializer(node.inputs[1]) &&
         graph.initializers.at(node.inputs[1]).dtype() == DType::F32;
}

void zeroSmallest(Tensor& weights, double sparsity, int64_t* zeroed) {
  std::span<float> w = weights.values<float>();
  const auto count = static_cast<size_t>(std::floor(sparsity * static_cast<double>(w.size())));
  if (count == 0) return;
  std::vector<float> magnitudes(w.size());
  for (size_t i = 0; i < w.size(); ++i) magnitudes[i] = std::fabs(w[i]);
  std::nth_element(magnitudes.begin(), magnitudes.begin() + static_cast<std::ptrdiff_t>(count - 1), magnitudes.end());
  const float threshold = magnitudes[count - 1];
  size_t done = 0;
  for (float& v : w)  // ties at the threshold: only as many as the share asks for
    if (done < count && std::fabs(v) <= threshold) {
      v = 0.0f;
      ++done;
    }
  *zeroed += static_cast<int64_t>(done);
}

// Where a Conv's output channels go. Each consumer step keeps its channel axis (1) until a
// terminal that reads channels as inputs.
struct ChannelUse {
  std::vector<size_t> passThrough;  // per-channel ops between (activations, pooling, BatchNorm)
  std::vector<size_t> convs;        // Convs reading the channels as input channels (weight axis 1)
  std::vector<size_t> gemms;        // Gemms reading them as features after Flatten
  std::vector<size_t> flattens;
};

bool isPerChannelOp(const Node& node) {
  static const char* ops[] = {
      "Relu",    "Clip",     "LeakyRelu", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization",
      "Sigmoid", "HardSwish"};
  return node.domain.empty() &&
         std::any_of(std::begin(ops), std::end(ops), [&](const char* op) { return node.opType == op; }) &&
         node.outputs.size() == 1;
}

// Follows `value` (channels on axis 1) to the ops that would have to shrink; false when some use
// cannot.
bool traceChannels(const Graph& graph, const GraphAnalysis& analysis, const std::string& value, ChannelUse& use) {
  if (graph.isGraphOutput(value)) return false;
  for (size_t c : consumersOf(graph, value)) {
    const Node& node = graph.nodes[c];
    if (isPerChannelOp(node) && node.inputs[0] == value) {
      if (node.opType == "BatchNormalization" || node.opType == "Clip")
        for (size_t i = 1; i < node.inputs.size(); ++i)
          if (!node.inputs[i].empty() && !graph.isInitializer(node.inputs[i])) return false;
      use.passThrough.push_back(c);
      if (!traceChannels(graph, analysis, node.outputs[0], use)) return false;
    } else if (node.opType == "Conv" && node.inputs[0] == value && hasConstantWeights(graph, node) &&
               node.attributes.getInt("group", 1).ok() && *node.attributes.getInt("group", 1) == 1) {
      use.convs.push_back(c);
    } else if (node.opType == "Flatten" && analysis.typeOf(value).shape.size() == 4 &&
               analysis.typeOf(value).shape[2] * analysis.typeOf(value).shape[3] == 1) {
      // [N, C, 1, 1] flattened: feature f is channel f; its readers must be Gemms on constant B.
      use.flattens.push_back(c);
      if (graph.isGraphOutput(node.outputs[0])) return false;
      for (size_t g : consumersOf(graph, node.outputs[0])) {
        const Node& gemm = graph.nodes[g];
        if (gemm.opType != "Gemm" || gemm.inputs[0] != node.outputs[0] || !hasConstantWeights(graph, gemm) ||
            gemm.attributes.getInt("transA", 0).value() != 0)
          return false;
        use.gemms.push_back(g);
      }
    } else {
      return false;
    }
  }
  return true;
}

// The tensor with only `keep` indices along `axis`.
Tensor sliceAxis(const Tensor& t, size_t axis, const std::vector<int64_t>& keep) {
  Shape shape = t.shape();
  const int64_t size = shape[axis];
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < axis; ++d) outer *= shape[d];
  for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  shape[axis] = static_cast<int64_t>(keep.size());
  Tensor out = Tensor::zeros(t.dtype(), shape);
  const size_t es = dtypeSize(t.dtype());
  for (int64_t o = 0; o < outer; ++o)
    for (size_t k = 0; k < keep.size(); ++k)
      std::memcpy(out.raw() + ((o * static_cast<int64_t>(keep.size()) + static_cast<int64_t>(k)) * inner) *
                                  static_cast<int64_t>(es),
                  t.raw() + ((o * size + keep[k]) * inner) * static_cast<int64_t>(es), static_cast<size_t>(inner) * es);
  return out;
}

// Initializers shared by several nodes cannot be sliced for one of them.
bool usedOnce(const Graph& graph, const std::string& value) { return graph.useCount(value) == 1; }

}  // namespace

Result<PruneReport> pruneGraph(Graph& graph, double sparsity, bool structured) {
  if (!(sparsity >= 0.0 && sparsity < 1.0)) return Error{fmt::format("sparsity {} is not in [0, 1)", sparsity)};
  PruneReport report;
  if (!structured) {
    for (Node& node : graph.nodes) {
      if (!hasConstantWeights(graph, node)) continue;
      zeroSmallest(graph.initializers.at(node.inputs[1]), sparsity, &report.weightsZeroed);
      ++report.layers;
    }
    return report;
  }
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    Result<GraphAnalysis> analysis = analyzeGraph(graph);  // shapes change as layers shrink
    if (!analysis) return analysis.error();
    const Node& conv = graph.nodes[n];
    Result<int64_t> group = conv.attributes.getInt("group", 1);
    if (conv.opType != "Conv" || !hasConstantWeights(graph, conv) || !group || *group != 1 ||
        !usedOnce(graph, conv.inputs[1]) ||
        (conv.inputs.size() > 2 && !conv.inputs[2].empty() && !usedOnce(graph, conv.inputs[2])))
      continue;
    ChannelUse use;
    const Tensor& weights = graph.initializers.at(conv.inputs[1]);
    const int64_t filters = weights.dim(0);
    const auto keepCount =
        std::max<int64_t>(1, filters - static_cast<int64_t>(std::floor(sparsity * static_cast<double>(filters))));
    if (keepCount == filters) continue;
    bool sliceable = traceChannels(graph, *analysis, conv.outputs[0], use);
    for (size_t p : use.passThrough)
      for (size_t i = 1; i < graph.nodes[p].inputs.size() && sliceable; ++i)
        if (graph.nodes[p].opType == "BatchNormalization" && !usedOnce(graph, graph.nodes[p].inputs[i]))
          sliceable = false;
    for (size_t c : use.convs) sliceable = sliceable && usedOnce(graph, graph.nodes[c].inputs[1]);
    for (size_t g : use.gemms) sliceable = sliceable && usedOnce(graph, graph.nodes[g].inputs[1]);
    if (!sliceable) {
      ++report.skippedLayers;
      continue;
    }
    // Keep the filters with the largest L1 norms, in their original order.
    const int64_t perFilter = weights.numel() / filters;
    std::vector<double> norms(static_cast<size_t>(filters), 0.0);
    for (int64_t f = 0; f < filters; ++f)
      for (int64_t i = 0; i < perFilter; ++i)
        norms[static_cast<size_t>(f)] += static_cast<double>(std::fabs(weights.data<float>()[f * perFilter + i]));
    std::vector<int64_t> order(static_cast<size_t>(filters));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return norms[static_cast<size_t>(a)] > norms[static_cast<size_t>(b)];
    });
    std::vector<int64_t> keep(order.begin(), order.begin() + keepCount);
    std::sort(keep.begin(), keep.end());

    graph.initializers[conv.inputs[1]] = sliceAxis(weights, 0, keep);
    if (conv.inputs.size() > 2 && !conv.inputs[2].empty())
      graph.initializers[conv.inputs[2]] = sliceAxis(graph.initializers.at(conv.inputs[2]), 0, keep);
    for (size_t p : use.passThrough)
      if (graph.nodes[p].opType == "BatchNormalization")
        for (size_t i = 1; i < graph.nodes[p].inputs.size(); ++i)
          graph.initializers[graph.nodes[p].inputs[i]] =
              sliceAxis(graph.initializers.at(graph.nodes[p].inputs[i]), 0, keep);
    for (size_t c : use.convs)
      graph.initializers[graph.nodes[c].inputs[1]] =
          sliceAxis(graph.initializers.at(graph.nodes[c].inputs[1]), 1, keep);
    for (size_t g : use.gemms) {
      const Node& gemm = graph.nodes[g];
      const bool transB = gemm.attributes.getInt("transB", 0).value() == 1;
      graph.initializers[gemm.inputs[1]] = sliceAxis(graph.initializers.at(gemm.inputs[1]), transB ? 1 : 0, keep);
    }
    report.filtersRemoved += filters - keepCount;
    ++report.layers;
  }
  Result<GraphAnalysis> check = analyzeGraph(graph);
  if (!check) return Error{"pruned graph does not analyse: " + check.error().message};
  return report;
}

}  // namespace cleave

#include "runtime/passes/channel_shuffle.h"

#include "runtime/analysis.h"
#include "runtime/passes/graph_edit.h"

namespace cleave {
namespace {

struct Shuffle {
  size_t transpose = 0, merge = 0;  // the Transpose and the closing Reshape
  int64_t groups = 0;
};

// The shuffle that `first` (a Reshape) starts, or groups 0 when it starts none.
Shuffle matchShuffle(const Graph& graph, const GraphAnalysis& analysis, const Node& first) {
  if (!isPlainNode(first, "Reshape") || first.inputs.empty()) return {};
  const Shape& in = analysis.typeOf(first.inputs[0]).shape;
  const Shape& split = analysis.typeOf(first.outputs[0]).shape;
  if (in.size() != 4 || split.size() != 5 || split[0] != in[0] || split[1] * split[2] != in[1] ||
      split[3] != in[2] || split[4] != in[3])
    return {};
  std::optional<size_t> transpose = soleConsumer(graph, first.outputs[0]);
  if (!transpose || !isPlainNode(graph.nodes[*transpose], "Transpose")) return {};
  Result<std::vector<int64_t>> perm = graph.nodes[*transpose].attributes.getInts("perm", {});
  if (!perm || *perm != std::vector<int64_t>{0, 2, 1, 3, 4}) return {};
  std::optional<size_t> merge = soleConsumer(graph, graph.nodes[*transpose].outputs[0]);
  if (!merge || !isPlainNode(graph.nodes[*merge], "Reshape") ||
      analysis.typeOf(graph.nodes[*merge].outputs[0]).shape != in)
    return {};
  return Shuffle{*transpose, *merge, split[1]};
}

// Output channel j * groups + i reads input channel i * (C / groups) + j.
Tensor shuffleIndices(int64_t channels, int64_t groups) {
  const int64_t perGroup = channels / groups;
  std::vector<int64_t> indices(static_cast<size_t>(channels));
  for (int64_t i = 0; i < groups; ++i)
    for (int64_t j = 0; j < perGroup; ++j) indices[static_cast<size_t>(j * groups + i)] = i * perGroup + j;
  return Tensor::fromVector<int64_t>({channels}, indices);
}

}  // namespace

Status rewriteChannelShuffles(Graph& graph, int64_t* changes) {
  Result<GraphAnalysis> analysis = analyzeGraph(graph);
  if (!analysis) return analysis.error();
  std::vector<bool> removed(graph.nodes.size(), false);
  int64_t count = 0;
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    if (removed[n]) continue;
    const Shuffle shuffle = matchShuffle(graph, *analysis, graph.nodes[n]);
    if (shuffle.groups == 0) continue;
    const std::string input = graph.nodes[n].inputs[0];
    Node& merge = graph.nodes[shuffle.merge];
    const std::string indices = freshValueName(graph, merge.outputs[0] + "_shuffle");
    graph.initializers[indices] = shuffleIndices(analysis->typeOf(input).shape[1], shuffle.groups);
    // The Gather takes the closing Reshape's place (and name); the other two nodes go.
    Node gather;
    gather.name = merge.name;
    gather.opType = "Gather";
    gather.inputs = {input, indices};
    gather.outputs = merge.outputs;
    gather.attributes.set("axis", int64_t{1});
    merge = std::move(gather);
    removed[n] = removed[shuffle.transpose] = true;
    ++count;
  }
  eraseNodes(graph, removed);
  if (changes) *changes = count;
  return {};
}

}  // namespace cleave

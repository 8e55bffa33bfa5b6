#include "runtime/passes/fold_batch_norm.h"

#include <cmath>

#include "runtime/analysis.h"
#include "runtime/passes/graph_edit.h"

namespace cleave {
namespace {

// The constant f32 tensor behind input `i` of `node`, or null.
const Tensor* constantF32(const GraphAnalysis& analysis, const Node& node, size_t i) {
  if (i >= node.inputs.size() || node.inputs[i].empty()) return nullptr;
  auto it = analysis.constants.find(node.inputs[i]);
  if (it == analysis.constants.end() || it->second.dtype() != DType::F32) return nullptr;
  return &it->second;
}

// The per-channel affine map of an inference BatchNormalization: y = x * scale + shift.
struct ChannelAffine {
  std::vector<float> scale;
  std::vector<float> shift;
};

std::optional<ChannelAffine> batchNormAffine(const Graph& graph, const GraphAnalysis& analysis, const Node& bn) {
  if (bn.inputs.size() != 5 || bn.outputs.empty() || bn.outputs[0].empty()) return std::nullopt;
  for (size_t o = 1; o < bn.outputs.size(); ++o)
    if (!bn.outputs[o].empty() && graph.useCount(bn.outputs[o]) != 0) return std::nullopt;
  Result<int64_t> training = bn.attributes.getInt("training_mode", 0);
  Result<int64_t> spatial = bn.attributes.getInt("spatial", 1);  // opsets before 9
  Result<float> epsilon = bn.attributes.getFloat("epsilon", 1e-5f);
  if (!training || *training != 0 || !spatial || *spatial != 1 || !epsilon) return std::nullopt;
  const Tensor* params[4];
  for (size_t i = 0; i < 4; ++i) {
    params[i] = constantF32(analysis, bn, i + 1);
    if (params[i] == nullptr || params[i]->rank() != 1) return std::nullopt;
  }
  int64_t channels = params[0]->numel();
  for (const Tensor* p : params)
    if (p->numel() != channels) return std::nullopt;
  ChannelAffine affine;
  for (int64_t c = 0; c < channels; ++c) {
    double gamma = static_cast<double>(params[0]->data<float>()[c]);
    double beta = static_cast<double>(params[1]->data<float>()[c]);
    double mean = static_cast<double>(params[2]->data<float>()[c]);
    double var = static_cast<double>(params[3]->data<float>()[c]);
    double s = gamma / std::sqrt(var + static_cast<double>(*epsilon));
    affine.scale.push_back(static_cast<float>(s));
    affine.shift.push_back(static_cast<float>(beta - mean * s));
  }
  return affine;
}

bool hasNoActivation(const Node& node) { return stringAttribute(node, "activation").empty(); }

bool isConvProducer(const Node& node) {
  if (node.domain.empty()) return node.opType == "Conv";
  bool hasZ = node.inputs.size() > 3 && !node.inputs[3].empty();
  return node.domain == "com.microsoft" && node.opType == "FusedConv" && hasNoActivation(node) && !hasZ;
}

bool isGemmProducer(const Node& node) {
  if (node.domain.empty()) return node.opType == "Gemm";
  return node.domain == "com.microsoft" && node.opType == "FusedGemm" && hasNoActivation(node);
}

// Folded Conv weight and bias: W'[c] = W[c] * s[c], b'[c] = b[c] * s[c] + t[c].
std::optional<std::pair<Tensor, Tensor>> foldIntoConv(const Tensor& w, const Tensor* b, const ChannelAffine& bn) {
  int64_t channels = static_cast<int64_t>(bn.scale.size());
  if (w.rank() < 1 || w.dim(0) != channels || (b && b->numel() != channels)) return std::nullopt;
  Tensor newW = w.clone();
  int64_t per = w.numel() / channels;
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t k = 0; k < per; ++k) newW.data<float>()[c * per + k] *= bn.scale[static_cast<size_t>(c)];
  Tensor newB = Tensor::zeros(DType::F32, {channels});
  for (int64_t c = 0; c < channels; ++c) {
    float bias = b ? b->data<float>()[c] : 0.0f;
    newB.data<float>()[c] = bias * bn.scale[static_cast<size_t>(c)] + bn.shift[static_cast<size_t>(c)];
  }
  return std::make_pair(std::move(newW), std::move(newB));
}

// C's value at output element (m, n) under unidirectional broadcasting to [M, N].
float broadcastAt(const Tensor& c, int64_t m, int64_t n) {
  int64_t rows = c.rank() == 2 ? c.dim(0) : 1;
  int64_t cols = c.rank() >= 1 ? c.dim(c.rank() - 1) : 1;
  return c.data<float>()[(rows == 1 ? 0 : m) * cols + (cols == 1 ? 0 : n)];
}

// Folded Gemm: Y = alpha * A op(B) + beta * C, then BN over columns. op(B)'s column n is scaled
// by s[n]; the new C (with beta 1) is s * beta * C + t, per column or per element as C requires.
std::optional<std::pair<Tensor, Tensor>> foldIntoGemm(const Node& gemm, const Tensor& w, const Tensor* c,
                                                      const Shape& out, const ChannelAffine& bn) {
  Result<int64_t> transB = gemm.attributes.getInt("transB", 0);
  Result<float> beta = gemm.attributes.getFloat("beta", 1.0f);
  int64_t n = static_cast<int64_t>(bn.scale.size());
  if (!transB || !beta || out.size() != 2 || out[1] != n || w.rank() != 2) return std::nullopt;
  if (c && (c->rank() > 2 || (c->rank() == 2 && c->dim(0) != 1 && c->dim(0) != out[0]) ||
            (c->rank() >= 1 && c->dim(c->rank() - 1) != 1 && c->dim(c->rank() - 1) != n)))
    return std::nullopt;
  Tensor newW = w.clone();
  float* data = newW.data<float>();
  if (*transB != 0) {
    if (w.dim(0) != n) return std::nullopt;
    for (int64_t row = 0; row < n; ++row)
      for (int64_t k = 0; k < w.dim(1); ++k) data[row * w.dim(1) + k] *= bn.scale[static_cast<size_t>(row)];
  } else {
    if (w.dim(1) != n) return std::nullopt;
    for (int64_t k = 0; k < w.dim(0); ++k)
      for (int64_t col = 0; col < n; ++col) data[k * n + col] *= bn.scale[static_cast<size_t>(col)];
  }
  bool perRow = c && c->rank() == 2 && c->dim(0) != 1;
  int64_t rows = perRow ? out[0] : 1;
  Tensor newC = Tensor::zeros(DType::F32, perRow ? Shape{rows, n} : Shape{n});
  for (int64_t m = 0; m < rows; ++m) {
    for (int64_t col = 0; col < n; ++col) {
      float bias = c ? *beta * broadcastAt(*c, m, col) : 0.0f;
      size_t k = static_cast<size_t>(col);
      newC.data<float>()[m * n + col] = bias * bn.scale[k] + bn.shift[k];
    }
  }
  return std::make_pair(std::move(newW), std::move(newC));
}

}  // namespace

Status foldBatchNorm(Graph& graph, int64_t* changes) {
  Result<GraphAnalysis> analysis = analyzeGraph(graph);
  if (!analysis) return analysis.error();
  std::vector<bool> removed(graph.nodes.size(), false);
  int64_t count = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& bn = graph.nodes[i];
    if (!bn.domain.empty() || bn.opType != "BatchNormalization" || bn.inputs.empty()) continue;
    std::optional<size_t> producer = graph.producerOf(bn.inputs[0]);
    if (!producer || removed[*producer] || soleConsumer(graph, bn.inputs[0]) != i) continue;
    Node& p = graph.nodes[*producer];
    bool conv = isConvProducer(p), gemm = isGemmProducer(p);
    if ((!conv && !gemm) || p.outputs.size() != 1 || analysis->typeOf(bn.inputs[0]).dtype != DType::F32) continue;
    const Tensor* w = constantF32(*analysis, p, 1);
    const Tensor* b = constantF32(*analysis, p, 2);
    bool biasGiven = p.inputs.size() > 2 && !p.inputs[2].empty();
    if (w == nullptr || (biasGiven && b == nullptr)) continue;
    std::optional<ChannelAffine> affine = batchNormAffine(graph, *analysis, bn);
    if (!affine) continue;
    auto folded = conv ? foldIntoConv(*w, b, *affine)
                       : foldIntoGemm(p, *w, b, analysis->typeOf(bn.inputs[0]).shape, *affine);
    if (!folded) continue;

    std::string wName = freshValueName(graph, bn.name + "_folded_weight");
    graph.initializers[wName] = std::move(folded->first);
    std::string bName = freshValueName(graph, bn.name + "_folded_bias");
    graph.initializers[bName] = std::move(folded->second);
    p.inputs[1] = wName;
    if (p.inputs.size() < 3) p.inputs.resize(3);
    p.inputs[2] = bName;
    if (gemm) p.attributes.set("beta", 1.0f);
    // The producer now writes BN's output directly; its old output had no other reader.
    p.outputs[0] = bn.outputs[0];
    removed[i] = true;
    ++count;
  }
  eraseNodes(graph, removed);
  if (changes) *changes = count;
  return {};
}

}  // namespace cleave

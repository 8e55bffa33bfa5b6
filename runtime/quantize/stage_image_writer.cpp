#include "runtime/quantize/stage_image_writer.h"

#include <fmt/format.h>

#include <cstring>
#include <map>

#include "runtime/analysis.h"
#include "runtime/int8/fixed_point.h"
#include "runtime/int8/stage_image.h"
#include "runtime/layout.h"
#include "runtime/memory_plan.h"
#include "runtime/ops/conv.h"
#include "runtime/ops/qlinear_common.h"

namespace cleave {
namespace {

struct TensorEntry {
  uint32_t type = CLEAVE_Q_INT8;
  uint32_t n = 1, h = 1, w = 1, c = 1;
  float scale = 1.0f;
  int32_t zeroPoint = 0;
  int64_t bytes = 0;
  int64_t firstOp = 0, lastOp = 0;
};

struct OpEntry {
  uint32_t kind = 0;
  uint32_t inputs[3] = {CLEAVE_Q_NONE, CLEAVE_Q_NONE, CLEAVE_Q_NONE};
  uint32_t output = 0;
  std::vector<uint8_t> data;  // constants, 4-byte padded
  int32_t params[CLEAVE_Q_OP_PARAMS] = {};
};

void appendBytes(std::vector<uint8_t>& out, const void* data, size_t bytes) {
  const auto* p = static_cast<const uint8_t*>(data);
  out.insert(out.end(), p, p + bytes);
  out.resize((out.size() + 3) / 4 * 4, 0);
}

void appendWords(std::vector<uint8_t>& out, const std::vector<int32_t>& words) {
  appendBytes(out, words.data(), words.size() * sizeof(int32_t));
}

class Writer {
 public:
  Writer(const Graph& graph, const GraphAnalysis& analysis) : graph_(graph), analysis_(analysis) {}

  Result<StageImage> write();

 private:
  Error nodeError(const Node& node, const std::string& what) const {
    return Error{fmt::format("node '{}' ({}): {}", node.name, node.opType, what)};
  }
  float constantFloat(const std::string& value) const { return analysis_.constants.at(value).toFloats()[0]; }
  int32_t constantInt(const std::string& value) const {
    return static_cast<int32_t>(analysis_.constants.at(value).toInt64s()[0]);
  }
  // The tensor index of a value, created on first use with its NHWC shape.
  Result<uint32_t> tensorOf(const std::string& value);
  void setQuantisation(const std::string& value, const std::string& scale, const std::string& zeroPoint) {
    quantisation_[value] = {constantFloat(scale), constantInt(zeroPoint)};
  }
  Status addNode(size_t index);
  Status addConcat(const Node& node);
  // MaxPool and copies keep their input's quantisation. A stage's input may learn its own only
  // from a consumer further on, so the pair is recorded and settled at the end, both ways.
  void sameQuantisation(const std::string& in, const std::string& out) { sameScale_.emplace_back(in, out); }
  void settleSameScale() {
    for (int round = 0; round < 2; ++round) {
      for (const auto& [in, out] : sameScale_)
        if (quantisation_.count(in) && !quantisation_.count(out)) quantisation_[out] = quantisation_[in];
      for (auto it = sameScale_.rbegin(); it != sameScale_.rend(); ++it)
        if (quantisation_.count(it->second) && !quantisation_.count(it->first))
          quantisation_[it->first] = quantisation_[it->second];
    }
  }

  const Graph& graph_;
  const GraphAnalysis& analysis_;
  std::map<std::string, uint32_t> tensorIndex_;
  std::vector<TensorEntry> tensors_;
  std::map<std::string, std::pair<float, int32_t>> quantisation_;
  std::vector<OpEntry> ops_;
  std::vector<std::pair<std::string, std::string>> sameScale_;
};

Result<uint32_t> Writer::tensorOf(const std::string& value) {
  auto it = tensorIndex_.find(value);
  if (it != tensorIndex_.end()) return it->second;
  const TensorType& type = analysis_.typeOf(value);
  TensorEntry t;
  if (type.dtype != DType::I8 && type.dtype != DType::F32)
    return Error{fmt::format("value '{}' is {}; stage images hold int8 and float32", value, type.toString())};
  t.type = type.dtype == DType::F32 ? CLEAVE_Q_FLOAT32 : CLEAVE_Q_INT8;
  const Shape& s = type.shape;
  if (s.size() == 4) {
    t.n = static_cast<uint32_t>(s[0]), t.c = static_cast<uint32_t>(s[1]);
    t.h = static_cast<uint32_t>(s[2]), t.w = static_cast<uint32_t>(s[3]);
  } else if (s.size() == 2) {
    t.n = static_cast<uint32_t>(s[0]), t.c = static_cast<uint32_t>(s[1]);
  } else {
    return Error{fmt::format("value '{}' has shape {}; stage images hold rank 2 and 4", value, shapeString(s))};
  }
  t.bytes = type.bytes();
  tensors_.push_back(t);
  return tensorIndex_[value] = static_cast<uint32_t>(tensors_.size() - 1);
}

Status Writer::addNode(size_t index) {
  const Node& node = graph_.nodes[index];
  const std::string& op = node.opType;
  const auto input = [&](size_t i) { return analysis_.typeOf(node.inputs[i]); };
  OpEntry entry;
  std::vector<std::string> activations = {node.inputs.empty() ? "" : node.inputs[0]};
  std::string inputScale, inputZero;  // where the first input's quantisation is named, if here

  if (op == "QuantizeLinear" || op == "DequantizeLinear") {
    if (node.inputs.size() != 3 || analysis_.constants.at(node.inputs[1]).numel() != 1)
      return nodeError(node, "only per-tensor quantisation with a zero point has a stage image form");
    const bool quantize = op == "QuantizeLinear";
    if (quantize ? input(0).dtype != DType::F32 || analysis_.typeOf(node.outputs[0]).dtype != DType::I8
                 : input(0).dtype != DType::I8)
      return nodeError(node, "only float32 <-> int8 has a stage image form");
    entry.kind = quantize ? CLEAVE_Q_OP_QUANTIZE : CLEAVE_Q_OP_DEQUANTIZE;
    setQuantisation(quantize ? node.outputs[0] : node.inputs[0], node.inputs[1], node.inputs[2]);
  } else if (op == "QLinearConv") {
    const Tensor& w = analysis_.constants.at(node.inputs[3]);
    Result<ConvParams> p = parseConvParams(node.attributes, input(0).shape, w.shape());
    if (!p || p->spatialRank != 2) return nodeError(node, "only 2-D convolutions have a stage image form");
    entry.kind = CLEAVE_Q_OP_CONV;
    const int64_t out = p->outChannels, kh = p->kernel[0], kw = p->kernel[1];
    const std::vector<int8_t> weights = convWeightsOhwi(w);
    const int32_t params[] = {static_cast<int32_t>(kh),
                              static_cast<int32_t>(kw),
                              static_cast<int32_t>(p->strides[0]),
                              static_cast<int32_t>(p->strides[1]),
                              static_cast<int32_t>(p->dilations[0]),
                              static_cast<int32_t>(p->dilations[1]),
                              static_cast<int32_t>(p->padsBegin[0]),
                              static_cast<int32_t>(p->padsBegin[1]),
                              static_cast<int32_t>(p->group),
                              node.inputs.size() > 8 && !node.inputs[8].empty()};
    std::copy(std::begin(params), std::end(params), entry.params);
    appendBytes(entry.data, weights.data(), weights.size());
    if (entry.params[9])
      appendBytes(entry.data, analysis_.constants.at(node.inputs[8]).raw(), static_cast<size_t>(out) * 4);
    const auto scales = analysis_.constants.at(node.inputs[4]).toFloats();
    const ChannelRequant r = ChannelRequant::forScales(constantFloat(node.inputs[1]), scales, out,
                                                       {constantFloat(node.inputs[6]), constantInt(node.inputs[7])});
    appendWords(entry.data, r.multipliers);
    appendWords(entry.data, std::vector<int32_t>(r.shifts.begin(), r.shifts.end()));
    inputScale = node.inputs[1], inputZero = node.inputs[2];
    setQuantisation(node.outputs[0], node.inputs[6], node.inputs[7]);
  } else if (op == "QGemm") {
    const Tensor& b = analysis_.constants.at(node.inputs[3]);
    const int64_t transB = node.attributes.getInt("transB", 0).value();
    const int64_t columns = transB ? b.dim(0) : b.dim(1);
    entry.kind = CLEAVE_Q_OP_FULLY_CONNECTED;
    const std::vector<int8_t> weights = gemmWeightsOutIn(b, transB == 1);
    entry.params[0] = !node.inputs[6].empty();
    appendBytes(entry.data, weights.data(), weights.size());
    if (entry.params[0])
      appendBytes(entry.data, analysis_.constants.at(node.inputs[6]).raw(), static_cast<size_t>(columns) * 4);
    const ChannelRequant r =
        ChannelRequant::forScales(constantFloat(node.inputs[1]), analysis_.constants.at(node.inputs[4]).toFloats(),
                                  columns, {constantFloat(node.inputs[7]), constantInt(node.inputs[8])});
    appendWords(entry.data, r.multipliers);
    appendWords(entry.data, std::vector<int32_t>(r.shifts.begin(), r.shifts.end()));
    inputScale = node.inputs[1], inputZero = node.inputs[2];
    setQuantisation(node.outputs[0], node.inputs[7], node.inputs[8]);
  } else if (op == "QLinearAdd" || op == "QLinearMul") {
    activations.push_back(node.inputs[3]);
    setQuantisation(node.inputs[3], node.inputs[4], node.inputs[5]);
    const double a = constantFloat(node.inputs[1]), b = constantFloat(node.inputs[4]),
                 c = constantFloat(node.inputs[6]);
    if (op == "QLinearAdd") {
      entry.kind = CLEAVE_Q_OP_ADD;
      cleave_q_add_params p{};
      cleave_q_add_prepare(a, constantInt(node.inputs[2]), b, constantInt(node.inputs[5]), c,
                           constantInt(node.inputs[7]), &p);
      const int32_t params[] = {p.input1_multiplier, p.input1_shift,      p.input2_multiplier,
                                p.input2_shift,      p.output_multiplier, p.output_shift};
      std::copy(std::begin(params), std::end(params), entry.params);
    } else {
      entry.kind = CLEAVE_Q_OP_MUL;
      const ChannelRequant r = ChannelRequant::forScales(a * b, {1.0f}, 1, {static_cast<float>(c), 0});
      entry.params[0] = r.multipliers[0];
      entry.params[1] = r.shifts[0];
    }
    inputScale = node.inputs[1], inputZero = node.inputs[2];
    setQuantisation(node.outputs[0], node.inputs[6], node.inputs[7]);
  } else if (op == "MaxPool" || op == "QLinearAveragePool" || op == "QLinearGlobalAveragePool") {
    const Shape& x = input(0).shape;
    if (x.size() != 4 || input(0).dtype != DType::I8)
      return nodeError(node, "only int8 2-D pooling has a stage image form");
    entry.kind = op == "MaxPool" ? CLEAVE_Q_OP_MAX_POOL : CLEAVE_Q_OP_AVERAGE_POOL;
    if (op == "QLinearGlobalAveragePool") {
      const int32_t params[] = {static_cast<int32_t>(x[2]), static_cast<int32_t>(x[3]), 1, 1, 0, 0};
      std::copy(std::begin(params), std::end(params), entry.params);
    } else {
      Result<std::vector<int64_t>> kernel = node.attributes.getInts("kernel_shape", {});
      Result<std::vector<int64_t>> strides = node.attributes.getInts("strides", {1, 1});
      Result<std::vector<int64_t>> pads = node.attributes.getInts("pads", {0, 0, 0, 0});
      Result<std::string> autoPad = node.attributes.getString("auto_pad", "NOTSET");
      Result<int64_t> ceilMode = node.attributes.getInt("ceil_mode", 0);
      if (!kernel || kernel->size() != 2 || !strides || strides->size() != 2 || !pads || pads->size() != 4 ||
          !autoPad || *autoPad != "NOTSET" || node.attributes.has("dilations") || !ceilMode || *ceilMode != 0)
        return nodeError(node, "only explicit 2-D windows without dilations or ceil_mode have a stage image form");
      const int32_t params[] = {static_cast<int32_t>((*kernel)[0]),  static_cast<int32_t>((*kernel)[1]),
                                static_cast<int32_t>((*strides)[0]), static_cast<int32_t>((*strides)[1]),
                                static_cast<int32_t>((*pads)[0]),    static_cast<int32_t>((*pads)[1])};
      std::copy(std::begin(params), std::end(params), entry.params);
    }
    if (op == "MaxPool")
      sameQuantisation(node.inputs[0], node.outputs[0]);
    else
      setQuantisation(node.outputs[0], node.inputs[3], node.inputs[4]);
    if (op != "MaxPool") inputScale = node.inputs[1], inputZero = node.inputs[2];
  } else if (op == "QLinearConcat") {
    return addConcat(node);
  } else if (op == "Flatten" || op == "Reshape") {
    const Shape& x = input(0).shape;
    if (x.size() == 4 && !layoutFree(x))
      return nodeError(node, fmt::format("reshaping {} reorders NHWC data; stage images copy only where NCHW and "
                                         "NHWC agree",
                                         shapeString(x)));
    entry.kind = CLEAVE_Q_OP_COPY;
    sameQuantisation(node.inputs[0], node.outputs[0]);
  } else {
    return nodeError(node,
                     "has no stage image form (int8 operators, MaxPool, Flatten/Reshape, Quantize/DequantizeLinear)");
  }

  if (!inputScale.empty() && !quantisation_.count(activations[0]))
    setQuantisation(activations[0], inputScale, inputZero);
  for (size_t i = 0; i < activations.size(); ++i) {
    Result<uint32_t> t = tensorOf(activations[i]);
    if (!t) return t.error();
    entry.inputs[i] = *t;
  }
  Result<uint32_t> out = tensorOf(node.outputs[0]);
  if (!out) return out.error();
  entry.output = *out;
  ops_.push_back(std::move(entry));
  return {};
}

// QLinearConcat along channels (NHWC's last axis) as a chain of two-input CONCAT ops; the partial
// results carry the output's quantisation, so each later link copies them unchanged and every
// input is rescaled exactly once, as the session's kernel does.
Status Writer::addConcat(const Node& node) {
  const size_t count = (node.inputs.size() - 2) / 3;
  const Shape& shape = analysis_.typeOf(node.outputs[0]).shape;
  Result<int64_t> axis = node.attributes.getInt("axis", 1);
  if (count < 2 || !axis || (*axis != 1 && *axis != 1 - static_cast<int64_t>(shape.size())))
    return nodeError(node, "only a Concat of two or more inputs along channels has a stage image form");
  const float outScale = constantFloat(node.inputs[0]);
  const int32_t outZero = constantInt(node.inputs[1]);
  setQuantisation(node.outputs[0], node.inputs[0], node.inputs[1]);
  Result<uint32_t> first = tensorOf(node.inputs[2]);
  if (!first) return first.error();
  setQuantisation(node.inputs[2], node.inputs[3], node.inputs[4]);
  uint32_t partial = *first;
  bool partialCopies = constantFloat(node.inputs[3]) == outScale && constantInt(node.inputs[4]) == outZero;
  int32_t partialMultiplier = 0, partialShift = 0;
  {
    int shift = 0;
    cleave_q_quantize_multiplier(static_cast<double>(constantFloat(node.inputs[3])) / static_cast<double>(outScale),
                                 &partialMultiplier, &shift);
    partialShift = shift;
  }
  for (size_t k = 1; k < count; ++k) {
    const std::string& value = node.inputs[2 + 3 * k];
    Result<uint32_t> next = tensorOf(value);
    if (!next) return next.error();
    setQuantisation(value, node.inputs[3 + 3 * k], node.inputs[4 + 3 * k]);
    const float scale = constantFloat(node.inputs[3 + 3 * k]);
    const int32_t zero = constantInt(node.inputs[4 + 3 * k]);
    int32_t multiplier = 0;
    int shift = 0;
    cleave_q_quantize_multiplier(static_cast<double>(scale) / static_cast<double>(outScale), &multiplier, &shift);
    OpEntry entry;
    entry.kind = CLEAVE_Q_OP_CONCAT;
    entry.inputs[0] = partial;
    entry.inputs[1] = *next;
    const int32_t params[] = {partialMultiplier, partialShift, multiplier, shift,
                              (partialCopies ? 1 : 0) | (scale == outScale && zero == outZero ? 2 : 0)};
    std::copy(std::begin(params), std::end(params), entry.params);
    if (k + 1 == count) {
      Result<uint32_t> out = tensorOf(node.outputs[0]);
      if (!out) return out.error();
      entry.output = *out;
    } else {  // a partial result at the output's quantisation
      TensorEntry t = tensors_[*next];
      t.c = tensors_[partial].c + tensors_[*next].c;
      t.bytes = static_cast<int64_t>(t.n) * t.h * t.w * t.c;
      const std::string name = fmt::format("{}/partial{}", node.outputs[0], k);
      tensors_.push_back(t);
      entry.output = tensorIndex_[name] = static_cast<uint32_t>(tensors_.size() - 1);
      quantisation_[name] = {outScale, outZero};
    }
    ops_.push_back(entry);
    partial = entry.output;
    partialCopies = true;  // partial results are at the output's scale already
  }
  return {};
}

Result<StageImage> Writer::write() {
  for (const ValueInfo& input : graph_.inputs) {
    Result<uint32_t> t = tensorOf(input.name);
    if (!t) return t.error();
  }
  for (size_t n = 0; n < graph_.nodes.size(); ++n) {
    if (analysis_.constantNode[n]) continue;
    CLEAVE_TRY(addNode(n));
  }
  for (const ValueInfo& output : graph_.outputs)
    if (!tensorIndex_.count(output.name))
      return Error{fmt::format("output '{}' is not computed by the stage", output.name)};

  // Lifetimes in op steps: inputs from before the first op, outputs to after the last.
  const auto opCount = static_cast<int64_t>(ops_.size());
  std::vector<BufferRequest> requests(tensors_.size());
  for (size_t t = 0; t < tensors_.size(); ++t) requests[t] = {(tensors_[t].bytes + 3) / 4 * 4, -1, -1};
  for (const ValueInfo& input : graph_.inputs) requests[tensorIndex_.at(input.name)].firstStep = -1;
  for (int64_t k = 0; k < opCount; ++k) {
    const OpEntry& op = ops_[static_cast<size_t>(k)];
    requests[op.output].firstStep = k;
    requests[op.output].lastStep = std::max(requests[op.output].lastStep, k);
    for (uint32_t in : op.inputs)
      if (in != CLEAVE_Q_NONE) requests[in].lastStep = std::max(requests[in].lastStep, k);
  }
  for (const ValueInfo& output : graph_.outputs) requests[tensorIndex_.at(output.name)].lastStep = opCount;
  // planMemory counts steps from 0: shift by one so the inputs' "before the first op" is step 0.
  for (BufferRequest& r : requests) ++r.firstStep, ++r.lastStep;
  const MemoryPlan plan = planMemory(requests);

  settleSameScale();
  for (auto& [value, q] : quantisation_)
    if (tensorIndex_.count(value)) {
      tensors_[tensorIndex_.at(value)].scale = q.first;
      tensors_[tensorIndex_.at(value)].zeroPoint = q.second;
    }

  std::vector<uint32_t> words = {CLEAVE_Q_STAGE_MAGIC,
                                 CLEAVE_Q_STAGE_VERSION,
                                 0,
                                 static_cast<uint32_t>(plan.arenaBytes),
                                 static_cast<uint32_t>(tensors_.size()),
                                 static_cast<uint32_t>(ops_.size()),
                                 static_cast<uint32_t>(graph_.inputs.size()),
                                 static_cast<uint32_t>(graph_.outputs.size())};
  for (size_t t = 0; t < tensors_.size(); ++t) {
    const TensorEntry& e = tensors_[t];
    uint32_t scaleBits;
    std::memcpy(&scaleBits, &e.scale, 4);
    words.insert(words.end(), {e.type, e.n, e.h, e.w, e.c, static_cast<uint32_t>(plan.offsets[t]), scaleBits,
                               static_cast<uint32_t>(e.zeroPoint)});
  }
  for (const ValueInfo& input : graph_.inputs) words.push_back(tensorIndex_.at(input.name));
  for (const ValueInfo& output : graph_.outputs) words.push_back(tensorIndex_.at(output.name));
  const size_t opsAt = words.size();
  words.resize(opsAt + ops_.size() * CLEAVE_Q_OP_WORDS, 0);
  int64_t dataOffset = static_cast<int64_t>(words.size()) * 4;
  StageImage image;
  std::vector<uint8_t> constants;
  for (size_t k = 0; k < ops_.size(); ++k) {
    const OpEntry& op = ops_[k];
    uint32_t* w = words.data() + opsAt + k * CLEAVE_Q_OP_WORDS;
    w[0] = op.kind;
    std::copy(std::begin(op.inputs), std::end(op.inputs), w + 1);
    w[4] = op.output;
    w[5] = static_cast<uint32_t>(dataOffset + static_cast<int64_t>(constants.size()));
    for (int i = 0; i < CLEAVE_Q_OP_PARAMS; ++i) w[6 + i] = static_cast<uint32_t>(op.params[i]);
    constants.insert(constants.end(), op.data.begin(), op.data.end());
  }
  words[2] = static_cast<uint32_t>(dataOffset + static_cast<int64_t>(constants.size()));
  image.bytes.resize(static_cast<size_t>(dataOffset));
  std::memcpy(image.bytes.data(), words.data(), image.bytes.size());
  image.bytes.insert(image.bytes.end(), constants.begin(), constants.end());
  image.arenaBytes = plan.arenaBytes;
  image.weightBytes = static_cast<int64_t>(constants.size());
  return image;
}

}  // namespace

Result<StageImage> writeStageImage(const Graph& graph) {
  Result<GraphAnalysis> analysis = analyzeGraph(graph);
  if (!analysis) return analysis.error();
  Writer writer(graph, *analysis);
  Result<StageImage> image = writer.write();
  if (!image) return image;
  // The image must pass the same check a device makes before running it.
  if (int status = cleave_q_stage_check(image->bytes.data(), image->bytes.size(), nullptr); status != 0)
    return Error{fmt::format("internal error: the stage image fails its own check: {}", cleave_q_stage_error(status))};
  return image;
}

}  // namespace cleave

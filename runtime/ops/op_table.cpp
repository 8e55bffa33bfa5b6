#include "runtime/ops/op_table.h"

#include <array>

#include "runtime/ops/ops.h"

namespace cleave {
namespace {

struct OpEntry {
  std::string_view domain;
  std::string_view opType;
  PrepareFn prepare;
};

// ONNX's default domain is spelled "" or "ai.onnx". FusedConv/FusedGemm and QuickGelu follow
// ONNX Runtime's com.microsoft contrib ops, so graphs our passes write stay loadable elsewhere.
constexpr std::array OPS = {
    OpEntry{"", "Conv", prepareConv},
    OpEntry{"com.microsoft", "FusedConv", prepareConv},
    OpEntry{"", "Gemm", prepareGemm},
    OpEntry{"com.microsoft", "FusedGemm", prepareGemm},
    OpEntry{"", "MatMul", prepareMatMul},
    OpEntry{"", "BatchNormalization", prepareBatchNormalization},
    OpEntry{"", "Relu", prepareUnaryActivation},
    OpEntry{"", "LeakyRelu", prepareUnaryActivation},
    OpEntry{"", "Clip", prepareUnaryActivation},
    OpEntry{"", "Sigmoid", prepareUnaryActivation},
    OpEntry{"", "HardSigmoid", prepareUnaryActivation},
    OpEntry{"", "HardSwish", prepareUnaryActivation},
    OpEntry{"com.microsoft", "QuickGelu", prepareQuickGelu},
    OpEntry{"", "Add", prepareBinaryElementwise},
    OpEntry{"", "Sub", prepareBinaryElementwise},
    OpEntry{"", "Mul", prepareBinaryElementwise},
    OpEntry{"", "Div", prepareBinaryElementwise},
    OpEntry{"", "MaxPool", prepareMaxPool},
    OpEntry{"", "AveragePool", prepareAveragePool},
    OpEntry{"", "GlobalAveragePool", prepareGlobalAveragePool},
    OpEntry{"", "ReduceMean", prepareReduceMean},
    OpEntry{"", "Softmax", prepareSoftmax},
    OpEntry{"", "Flatten", prepareFlatten},
    OpEntry{"", "Reshape", prepareReshape},
    OpEntry{"", "Transpose", prepareTranspose},
    OpEntry{"", "Concat", prepareConcat},
    OpEntry{"", "Split", prepareSplit},
    OpEntry{"", "Slice", prepareSlice},
    OpEntry{"", "Pad", preparePad},
    OpEntry{"", "Squeeze", prepareSqueeze},
    OpEntry{"", "Unsqueeze", prepareUnsqueeze},
    OpEntry{"", "Identity", prepareIdentity},
    OpEntry{"", "Dropout", prepareIdentity},
    OpEntry{"", "Constant", prepareConstant},
    OpEntry{"", "Shape", prepareShape},
    OpEntry{"", "Gather", prepareGather},
    OpEntry{"", "Cast", prepareCast},
    OpEntry{"", "QuantizeLinear", prepareQuantizeLinear},
    OpEntry{"", "DequantizeLinear", prepareDequantizeLinear},
    OpEntry{"", "QLinearConv", prepareQLinearConv},
    OpEntry{"com.microsoft", "QGemm", prepareQGemm},
    OpEntry{"com.microsoft", "QLinearAdd", prepareQLinearBinary},
    OpEntry{"com.microsoft", "QLinearMul", prepareQLinearBinary},
    OpEntry{"com.microsoft", "QLinearConcat", prepareQLinearConcat},
    OpEntry{"com.microsoft", "QLinearAveragePool", prepareQLinearAveragePool},
    OpEntry{"com.microsoft", "QLinearGlobalAveragePool", prepareQLinearGlobalAveragePool},
    OpEntry{"", "ConstantOfShape", prepareConstantOfShape},
};

}  // namespace

PrepareFn findOp(std::string_view domain, std::string_view opType) {
  if (domain == "ai.onnx") domain = "";
  for (const OpEntry& entry : OPS)
    if (entry.domain == domain && entry.opType == opType) return entry.prepare;
  return nullptr;
}

std::vector<std::string> supportedOps() {
  std::vector<std::string> names;
  for (const OpEntry& entry : OPS)
    names.push_back(entry.domain.empty() ? std::string(entry.opType)
                                         : std::string(entry.domain) + "::" + std::string(entry.opType));
  return names;
}

}  // namespace cleave

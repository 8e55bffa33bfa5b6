#include "runtime/fast_kernels.h"

#include <vector>

#include "runtime/ops/ops.h"

#ifdef CLEAVE_HAVE_XNNPACK
#include "runtime/xnnpack/xnn_gemm.h"
#include "runtime/xnnpack/xnn_kernels.h"
#include "runtime/xnnpack/xnn_support.h"
#endif

namespace cleave {

#ifdef CLEAVE_HAVE_XNNPACK

bool fastKernelsAvailable() { return xnn::available(); }
std::string fastKernelLibrary() {
  return fastKernelsAvailable() ? "XNNPACK" : "none (XNNPACK does not run on this CPU)";
}
std::string fastGemmEngine() { return fastKernelsAvailable() ? xnn::gemmEngineName() : "none"; }

namespace {

void selectForNode(const NodeContext& ctx, PreparedNode& prepared) {
  const std::string& op = ctx.node.opType;
  const Shape& output = prepared.outputTypes[0].shape;
  if (op == "Conv" || op == "FusedConv") {
    prepared.nhwcKernel = xnn::convolutionNhwc(ctx);
  } else if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool") {
    prepared.nhwcKernel = xnn::poolingNhwc(ctx, output);
  } else if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
    prepared.nhwcKernel = xnn::binaryNhwc(ctx, output);
  } else if (op == "Concat") {
    prepared.nhwcKernel = xnn::concatNhwc(ctx, output);
  } else if (op == "Slice") {
    prepared.nhwcKernel = xnn::channelSliceNhwc(ctx, output);
  } else if (op == "Gather") {
    prepared.nhwcKernel = xnn::channelGatherNhwc(ctx, output);
  } else if (op == "Sigmoid" || op == "HardSwish" || op == "LeakyRelu") {
    if (auto kernel = xnn::unaryActivation(ctx)) prepared.kernel = std::move(kernel);
  }
}

}  // namespace

#else

bool fastKernelsAvailable() { return false; }
std::string fastKernelLibrary() { return "none (built without XNNPACK)"; }
std::string fastGemmEngine() { return "none"; }

#endif

namespace {

// The int8 operators' channels-last kernels: runtime/int8's kernels are NHWC by design (they are
// the MCU's), so these need no library and every build has them.
void selectInt8ForNode(const NodeContext& ctx, PreparedNode& prepared) {
  const std::string& op = ctx.node.opType;
  if (op == "QLinearConv")
    prepared.nhwcKernel = qlinearConvNhwc(ctx);
  else if (op == "QLinearAveragePool" || op == "QLinearGlobalAveragePool")
    prepared.nhwcKernel = qlinearAveragePoolNhwc(ctx);
  else if (op == "MaxPool")
    prepared.nhwcKernel = int8MaxPoolNhwc(ctx);
}

}  // namespace

void selectFastKernels(const Graph& graph, GraphAnalysis& analysis) {
  const bool library = fastKernelsAvailable();
  for (size_t n = 0; n < graph.nodes.size(); ++n) {
    if (analysis.constantNode[n] || analysis.nodes[n].outputTypes.empty()) continue;
    const Node& node = graph.nodes[n];
    if (node.domain != "" && node.domain != "ai.onnx" && node.domain != "com.microsoft") continue;
    std::vector<TensorType> inputTypes;
    std::vector<const Tensor*> constInputs;
    for (const std::string& in : node.inputs) {
      inputTypes.push_back(in.empty() ? TensorType{} : analysis.typeOf(in));
      auto constant = in.empty() ? analysis.constants.end() : analysis.constants.find(in);
      constInputs.push_back(constant == analysis.constants.end() ? nullptr : &constant->second);
    }
    NodeContext ctx{node, inputTypes, constInputs, graph.opset};
    const bool int8 = !inputTypes.empty() && inputTypes[0].dtype == DType::I8;
    if (int8) selectInt8ForNode(ctx, analysis.nodes[n]);
#ifdef CLEAVE_HAVE_XNNPACK
    else if (library)
      selectForNode(ctx, analysis.nodes[n]);
#endif
  }
  (void)library;
}

}  // namespace cleave

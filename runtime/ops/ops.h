// Prepare functions of every supported operator, one per file pair in this folder.
#pragma once

#include "runtime/op.h"

namespace cleave {

// Convolution and matrix products (conv.cpp, gemm.cpp, matmul.cpp, batch_norm.cpp).
Result<PreparedNode> prepareConv(const NodeContext& ctx);       // Conv and com.microsoft FusedConv
Result<PreparedNode> prepareGemm(const NodeContext& ctx);       // Gemm and com.microsoft FusedGemm
Result<PreparedNode> prepareMatMul(const NodeContext& ctx);
Result<PreparedNode> prepareBatchNormalization(const NodeContext& ctx);

// Elementwise, activations, pooling, reductions (see each file).
Result<PreparedNode> prepareUnaryActivation(const NodeContext& ctx);  // Relu LeakyRelu Clip Sigmoid HardSigmoid HardSwish
Result<PreparedNode> prepareQuickGelu(const NodeContext& ctx);  // com.microsoft QuickGelu (SiLU at alpha 1)
Result<PreparedNode> prepareBinaryElementwise(const NodeContext& ctx);  // Add Sub Mul Div
Result<PreparedNode> prepareMaxPool(const NodeContext& ctx);
Result<PreparedNode> prepareAveragePool(const NodeContext& ctx);
Result<PreparedNode> prepareGlobalAveragePool(const NodeContext& ctx);
Result<PreparedNode> prepareReduceMean(const NodeContext& ctx);
Result<PreparedNode> prepareSoftmax(const NodeContext& ctx);

// Shape and data movement.
Result<PreparedNode> prepareFlatten(const NodeContext& ctx);
Result<PreparedNode> prepareReshape(const NodeContext& ctx);
Result<PreparedNode> prepareTranspose(const NodeContext& ctx);
Result<PreparedNode> prepareConcat(const NodeContext& ctx);
Result<PreparedNode> prepareSplit(const NodeContext& ctx);
Result<PreparedNode> prepareSlice(const NodeContext& ctx);
Result<PreparedNode> preparePad(const NodeContext& ctx);
Result<PreparedNode> prepareSqueeze(const NodeContext& ctx);
Result<PreparedNode> prepareUnsqueeze(const NodeContext& ctx);
Result<PreparedNode> prepareIdentity(const NodeContext& ctx);  // Identity and Dropout (inference)
Result<PreparedNode> prepareConstant(const NodeContext& ctx);
Result<PreparedNode> prepareShape(const NodeContext& ctx);
Result<PreparedNode> prepareGather(const NodeContext& ctx);
Result<PreparedNode> prepareCast(const NodeContext& ctx);
Result<PreparedNode> prepareQuantizeLinear(const NodeContext& ctx);
Result<PreparedNode> prepareDequantizeLinear(const NodeContext& ctx);

// int8 operators on TensorFlow Lite Micro's arithmetic (runtime/int8/), as passes/lower_qdq.h
// writes them: ONNX's QLinearConv and ONNX Runtime's com.microsoft QGemm, QLinearAdd, QLinearMul,
// QLinearConcat, QLinearAveragePool and QLinearGlobalAveragePool.
Result<PreparedNode> prepareQLinearConv(const NodeContext& ctx);
Result<PreparedNode> prepareQGemm(const NodeContext& ctx);
Result<PreparedNode> prepareQLinearBinary(const NodeContext& ctx);  // QLinearAdd QLinearMul
Result<PreparedNode> prepareQLinearConcat(const NodeContext& ctx);
Result<PreparedNode> prepareQLinearAveragePool(const NodeContext& ctx);
Result<PreparedNode> prepareQLinearGlobalAveragePool(const NodeContext& ctx);
// Their channels-last kernels (NHWC inputs and outputs; selectFastKernels offers them to the
// layout plan). runtime/int8's kernels are NHWC, so a chain of these needs no transposes. Null
// where the node has no such kernel.
std::unique_ptr<Kernel> qlinearConvNhwc(const NodeContext& ctx);
std::unique_ptr<Kernel> int8MaxPoolNhwc(const NodeContext& ctx);
std::unique_ptr<Kernel> qlinearAveragePoolNhwc(const NodeContext& ctx);  // QLinearAveragePool, QLinearGlobalAveragePool
Result<PreparedNode> prepareConstantOfShape(const NodeContext& ctx);

}  // namespace cleave

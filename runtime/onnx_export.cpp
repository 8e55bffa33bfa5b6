#include "runtime/onnx_export.h"

#include <fstream>
#include <set>

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include "runtime/analysis.h"

namespace cleave {
namespace {

// IR version 8 goes with opsets up to 17, the newest the importer accepts.
constexpr int64_t EXPORT_IR_VERSION = 8;
constexpr int64_t CONTRIB_DOMAIN_VERSION = 1;

int32_t dtypeToOnnx(DType dtype) {
  switch (dtype) {
    case DType::F32: return onnx::TensorProto::FLOAT;
    case DType::F16: return onnx::TensorProto::FLOAT16;
    case DType::I8: return onnx::TensorProto::INT8;
    case DType::U8: return onnx::TensorProto::UINT8;
    case DType::I32: return onnx::TensorProto::INT32;
    case DType::I64: return onnx::TensorProto::INT64;
    case DType::Bool: return onnx::TensorProto::BOOL;
    case DType::Undefined: break;
  }
  return onnx::TensorProto::UNDEFINED;
}

// raw_data is little-endian by the ONNX spec, as is every host cleave runs on.
void tensorToProto(const Tensor& tensor, const std::string& name, onnx::TensorProto& proto) {
  proto.set_name(name);
  proto.set_data_type(dtypeToOnnx(tensor.dtype()));
  for (int64_t d : tensor.shape()) proto.add_dims(d);
  proto.set_raw_data(reinterpret_cast<const char*>(tensor.raw()), tensor.bytes());
}

void valueInfoToProto(const std::string& name, const TensorType& type, onnx::ValueInfoProto& proto) {
  proto.set_name(name);
  auto* tensorType = proto.mutable_type()->mutable_tensor_type();
  tensorType->set_elem_type(dtypeToOnnx(type.dtype));
  // An undefined type (no analysis) leaves the shape unknown rather than claiming a scalar.
  if (!type.defined()) return;
  auto* shape = tensorType->mutable_shape();
  for (int64_t d : type.shape) shape->add_dim()->set_dim_value(d);
}

void attributeToProto(const std::string& name, const AttributeValue& value, onnx::AttributeProto& proto) {
  proto.set_name(name);
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          proto.set_type(onnx::AttributeProto::INT);
          proto.set_i(v);
        } else if constexpr (std::is_same_v<T, float>) {
          proto.set_type(onnx::AttributeProto::FLOAT);
          proto.set_f(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          proto.set_type(onnx::AttributeProto::STRING);
          proto.set_s(v);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          proto.set_type(onnx::AttributeProto::INTS);
          for (int64_t i : v) proto.add_ints(i);
        } else if constexpr (std::is_same_v<T, std::vector<float>>) {
          proto.set_type(onnx::AttributeProto::FLOATS);
          for (float f : v) proto.add_floats(f);
        } else {
          proto.set_type(onnx::AttributeProto::TENSOR);
          tensorToProto(v, "", *proto.mutable_t());
        }
      },
      value);
}

// `analysis` supplies the output types; null falls back to the types the Graph records.
onnx::ModelProto buildModel(const Graph& graph, const GraphAnalysis* analysis) {
  onnx::ModelProto model;
  model.set_ir_version(EXPORT_IR_VERSION);
  model.set_producer_name("cleave");
  auto* defaultOpset = model.add_opset_import();
  defaultOpset->set_domain("");
  defaultOpset->set_version(graph.opset);
  std::set<std::string> domains;
  for (const Node& node : graph.nodes)
    if (!node.domain.empty() && node.domain != "ai.onnx") domains.insert(node.domain);
  for (const std::string& domain : domains) {
    auto* opset = model.add_opset_import();
    opset->set_domain(domain);
    opset->set_version(CONTRIB_DOMAIN_VERSION);
  }

  onnx::GraphProto& g = *model.mutable_graph();
  g.set_name(graph.name.empty() ? "cleave" : graph.name);
  for (const auto& [name, tensor] : graph.initializers) tensorToProto(tensor, name, *g.add_initializer());
  for (const ValueInfo& input : graph.inputs) valueInfoToProto(input.name, input.type, *g.add_input());
  for (const ValueInfo& output : graph.outputs) {
    TensorType type = analysis ? analysis->typeOf(output.name) : output.type;
    valueInfoToProto(output.name, type, *g.add_output());
  }
  for (const Node& node : graph.nodes) {
    onnx::NodeProto& n = *g.add_node();
    n.set_name(node.name);
    n.set_op_type(node.opType);
    if (!node.domain.empty()) n.set_domain(node.domain);
    for (const std::string& in : node.inputs) n.add_input(in);
    for (const std::string& out : node.outputs) n.add_output(out);
    for (const auto& [name, value] : node.attributes.all()) attributeToProto(name, value, *n.add_attribute());
  }
  return model;
}

}  // namespace

onnx::ModelProto exportOnnxModel(const Graph& graph) {
  Result<GraphAnalysis> analysis = analyzeGraph(graph);
  return buildModel(graph, analysis ? &analysis.value() : nullptr);
}

Status exportOnnxFile(const Graph& graph, const std::string& path) {
  Result<GraphAnalysis> analysis = analyzeGraph(graph);
  if (!analysis) return Error{fmt::format("cannot export a graph that does not analyse: {}", analysis.error().message)};
  onnx::ModelProto model = buildModel(graph, &analysis.value());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Error{fmt::format("{}: cannot open for writing", path)};
  if (!model.SerializeToOstream(&out)) return Error{fmt::format("{}: writing the model failed", path)};
  out.close();
  if (!out) return Error{fmt::format("{}: writing the model failed", path)};
  return {};
}

}  // namespace cleave

// Test-only helper: runs one of ONNX's own node test cases (a single-node model.onnx plus
// test_data_set_0/{input,output}_N.pb) through an op's prepare + kernel, so op tests can check
// their kernels against ONNX's expected values without the importer.
#pragma once

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"  // protobuf-generated headers shadow members
#include <onnx/onnx_pb.h>
#pragma GCC diagnostic pop

#include "runtime/ops/op_test_util.h"

namespace cleave::testing {

inline constexpr const char* ONNX_NODE_TEST_DIR = "/usr/share/libonnx-testdata/data/node";

inline Result<std::string> readFileBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{"cannot open " + path.string()};
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// An onnx::TensorProto as a Tensor (f32, i32, i64, i8, u8; raw_data or the typed fields).
inline Result<Tensor> tensorFromProto(const onnx::TensorProto& proto) {
  Shape shape(proto.dims().begin(), proto.dims().end());
  DType dtype;
  switch (proto.data_type()) {
    case onnx::TensorProto::FLOAT: dtype = DType::F32; break;
    case onnx::TensorProto::INT32: dtype = DType::I32; break;
    case onnx::TensorProto::INT64: dtype = DType::I64; break;
    case onnx::TensorProto::INT8: dtype = DType::I8; break;
    case onnx::TensorProto::UINT8: dtype = DType::U8; break;
    default: return Error{"unsupported TensorProto data type " + std::to_string(proto.data_type())};
  }
  Tensor t = Tensor::zeros(dtype, shape);
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != t.bytes()) return Error{"raw_data size mismatch in " + proto.name()};
    std::memcpy(t.raw(), proto.raw_data().data(), t.bytes());
    return t;
  }
  auto n = static_cast<int>(t.numel());
  switch (dtype) {
    case DType::F32:
      if (proto.float_data_size() != n) return Error{"float_data size mismatch"};
      for (int i = 0; i < n; ++i) t.data<float>()[i] = proto.float_data(i);
      break;
    case DType::I64:
      if (proto.int64_data_size() != n) return Error{"int64_data size mismatch"};
      for (int i = 0; i < n; ++i) t.data<int64_t>()[i] = proto.int64_data(i);
      break;
    default:  // i32, i8, u8 live in int32_data
      if (proto.int32_data_size() != n) return Error{"int32_data size mismatch"};
      for (int i = 0; i < n; ++i) {
        if (dtype == DType::I32) t.data<int32_t>()[i] = proto.int32_data(i);
        if (dtype == DType::I8) t.data<int8_t>()[i] = static_cast<int8_t>(proto.int32_data(i));
        if (dtype == DType::U8) t.data<uint8_t>()[i] = static_cast<uint8_t>(proto.int32_data(i));
      }
  }
  return t;
}

inline Result<Tensor> loadTensorFile(const std::filesystem::path& path) {
  Result<std::string> bytes = readFileBytes(path);
  if (!bytes) return bytes.error();
  onnx::TensorProto proto;
  if (!proto.ParseFromString(*bytes)) return Error{"cannot parse " + path.string()};
  return tensorFromProto(proto);
}

// One ONNX node test case, ready for runNode.
struct OnnxNodeCase {
  Node node;
  int64_t opset = 13;
  std::vector<Tensor> inputs;    // follows node.inputs; empty Tensor for an omitted input
  std::vector<Tensor> expected;  // follows node.outputs
};

inline Result<OnnxNodeCase> loadOnnxNodeCase(const std::string& name) {
  std::filesystem::path dir = std::filesystem::path(ONNX_NODE_TEST_DIR) / name;
  Result<std::string> bytes = readFileBytes(dir / "model.onnx");
  if (!bytes) return bytes.error();
  onnx::ModelProto model;
  if (!model.ParseFromString(*bytes)) return Error{"cannot parse model of " + name};
  const onnx::GraphProto& graph = model.graph();
  if (graph.node_size() != 1) return Error{name + " is not a single-node model"};
  OnnxNodeCase c;
  for (const auto& opset : model.opset_import())
    if (opset.domain().empty() || opset.domain() == "ai.onnx") c.opset = opset.version();
  const onnx::NodeProto& proto = graph.node(0);
  c.node.name = proto.name().empty() ? name : proto.name();
  c.node.opType = proto.op_type();
  c.node.domain = proto.domain();
  c.node.inputs.assign(proto.input().begin(), proto.input().end());
  c.node.outputs.assign(proto.output().begin(), proto.output().end());
  for (const onnx::AttributeProto& a : proto.attribute()) {
    switch (a.type()) {
      case onnx::AttributeProto::INT: c.node.attributes.set(a.name(), a.i()); break;
      case onnx::AttributeProto::FLOAT: c.node.attributes.set(a.name(), a.f()); break;
      case onnx::AttributeProto::STRING: c.node.attributes.set(a.name(), a.s()); break;
      case onnx::AttributeProto::INTS:
        c.node.attributes.set(a.name(), std::vector<int64_t>(a.ints().begin(), a.ints().end()));
        break;
      case onnx::AttributeProto::FLOATS:
        c.node.attributes.set(a.name(), std::vector<float>(a.floats().begin(), a.floats().end()));
        break;
      default: return Error{"unsupported attribute type of " + a.name()};
    }
  }
  std::map<std::string, Tensor> values;
  for (int i = 0; i < graph.input_size(); ++i) {
    Result<Tensor> t = loadTensorFile(dir / "test_data_set_0" / ("input_" + std::to_string(i) + ".pb"));
    if (!t) return t.error();
    values[graph.input(i).name()] = *t;
  }
  for (const std::string& in : c.node.inputs) c.inputs.push_back(in.empty() ? Tensor{} : values[in]);
  for (int i = 0; i < graph.output_size(); ++i) {
    Result<Tensor> t = loadTensorFile(dir / "test_data_set_0" / ("output_" + std::to_string(i) + ".pb"));
    if (!t) return t.error();
    c.expected.push_back(*t);
  }
  return c;
}

// Largest |a-b| over two tensors of the same dtype and shape, compared as floats (infinity when
// they differ in type or shape).
inline float maxAbsDiffAny(const Tensor& a, const Tensor& b) {
  if (a.type() != b.type()) return INFINITY;
  std::vector<float> x = a.toFloats(), y = b.toFloats();
  float worst = 0.0f;
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) && std::isnan(y[i])) continue;
    worst = std::max(worst, std::fabs(x[i] - y[i]));
    if (std::isnan(x[i]) != std::isnan(y[i])) return INFINITY;
  }
  return worst;
}

// Runs the named ONNX node test; returns the worst difference over all outputs, or an error.
inline Result<float> runOnnxNodeCase(const std::string& name, std::vector<size_t> constantInputs = {}) {
  Result<OnnxNodeCase> c = loadOnnxNodeCase(name);
  if (!c) return c.error();
  Result<std::vector<Tensor>> outs = runNode(c->node, c->inputs, std::move(constantInputs), c->opset);
  if (!outs) return outs.error();
  if (outs->size() != c->expected.size()) return Error{name + ": output count differs"};
  float worst = 0.0f;
  for (size_t i = 0; i < outs->size(); ++i) worst = std::max(worst, maxAbsDiffAny((*outs)[i], c->expected[i]));
  return worst;
}

}  // namespace cleave::testing

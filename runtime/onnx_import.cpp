#include "runtime/onnx_import.h"

#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include "runtime/ops/op_table.h"

namespace cleave {
namespace {

// Upper bound on elements of one tensor read from a file: 2^31, far above any edge model
// (resnet18's largest weight has 2.4M) and small enough that byte counts cannot overflow.
constexpr int64_t MAX_TENSOR_ELEMENTS = int64_t{1} << 31;

Result<DType> dtypeFromOnnx(int32_t elemType) {
  switch (elemType) {
    case onnx::TensorProto::FLOAT: return DType::F32;
    case onnx::TensorProto::FLOAT16: return DType::F16;
    case onnx::TensorProto::INT8: return DType::I8;
    case onnx::TensorProto::UINT8: return DType::U8;
    case onnx::TensorProto::INT32: return DType::I32;
    case onnx::TensorProto::INT64: return DType::I64;
    case onnx::TensorProto::BOOL: return DType::Bool;
    default: break;
  }
  std::string name = onnx::TensorProto_DataType_IsValid(elemType)
                         ? onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(elemType))
                         : std::to_string(elemType);
  return Error{fmt::format("element type {} is not supported", name)};
}

// Dimensions from a file (a TensorProto's dims, or an input's shape) as a Shape, refusing
// negative ones and element counts beyond MAX_TENSOR_ELEMENTS.
template <class Dims>
Result<Shape> checkedShape(const Dims& dims) {
  Shape shape;
  int64_t count = 1;
  for (int64_t d : dims) {
    if (d < 0) return Error{fmt::format("negative dimension {}", d)};
    if (d > 0 && count > MAX_TENSOR_ELEMENTS / d) return Error{"tensor too large"};
    count *= d;
    shape.push_back(d);
  }
  return shape;
}

template <class Field>
Status expectCount(const Field& field, int64_t numel, const char* what) {
  if (static_cast<int64_t>(field.size()) != numel)
    return Error{fmt::format("{} holds {} values, shape needs {}", what, field.size(), numel)};
  return {};
}

Result<AttributeValue> attributeFromProto(const onnx::AttributeProto& a) {
  switch (a.type()) {
    case onnx::AttributeProto::INT: return AttributeValue{a.i()};
    case onnx::AttributeProto::FLOAT: return AttributeValue{a.f()};
    case onnx::AttributeProto::STRING: return AttributeValue{a.s()};
    case onnx::AttributeProto::INTS: return AttributeValue{std::vector<int64_t>(a.ints().begin(), a.ints().end())};
    case onnx::AttributeProto::FLOATS: return AttributeValue{std::vector<float>(a.floats().begin(), a.floats().end())};
    case onnx::AttributeProto::TENSOR: {
      Result<Tensor> t = tensorFromProto(a.t());
      if (!t) return t.error();
      return AttributeValue{std::move(t).value()};
    }
    default: break;
  }
  return Error{fmt::format("attribute '{}' has type {}, which cleave does not support", a.name(),
                           onnx::AttributeProto_AttributeType_Name(a.type()))};
}

Result<TensorType> typeFromValueInfo(const onnx::ValueInfoProto& info, const ImportOptions& options) {
  if (!info.type().has_tensor_type()) return Error{fmt::format("input '{}' is not a tensor", info.name())};
  const auto& tensorType = info.type().tensor_type();
  Result<DType> dtype = dtypeFromOnnx(tensorType.elem_type());
  if (!dtype) return Error{fmt::format("input '{}': {}", info.name(), dtype.error().message)};
  TensorType type{*dtype, {}};
  auto override = options.inputShapes.find(info.name());
  if (override != options.inputShapes.end()) {
    type.shape = override->second;
    return type;
  }
  for (const auto& dim : tensorType.shape().dim()) {
    // Symbolic or missing dimensions (usually the batch) are planned as 1: cleave runs batch 1
    // on the edge; ImportOptions::inputShapes overrides.
    int64_t d = dim.has_dim_value() ? dim.dim_value() : 1;
    if (d < 0) return Error{fmt::format("input '{}' has negative dimension {}", info.name(), d)};
    type.shape.push_back(d);
  }
  // The same bound as initializers: the session allocates every activation up front.
  if (Result<Shape> checked = checkedShape(type.shape); !checked)
    return Error{fmt::format("input '{}': {}", info.name(), checked.error().message)};
  return type;
}

}  // namespace

Result<Tensor> tensorFromProto(const onnx::TensorProto& proto) {
  auto fail = [&](const std::string& what) {
    return Error{fmt::format("tensor '{}': {}", proto.name(), what)};
  };
  if (proto.data_location() == onnx::TensorProto::EXTERNAL)
    return fail("external data is not supported (save the model with weights inside the file)");
  if (proto.has_segment()) return fail("segmented tensors are not supported");
  Result<DType> dtype = dtypeFromOnnx(proto.data_type());
  if (!dtype) return fail(dtype.error().message);
  Result<Shape> shape = checkedShape(proto.dims());
  if (!shape) return fail(shape.error().message);
  // Sizes are checked against the data present before allocating: a few bytes of protobuf may
  // claim 2^31 elements (checkedShape's bound keeps these products from overflowing).
  const int64_t n = shapeNumel(*shape);
  const size_t bytes = static_cast<size_t>(n) * dtypeSize(*dtype);
  if (proto.has_raw_data()) {
    if (proto.raw_data().size() != bytes)
      return fail(fmt::format("raw_data has {} bytes, shape {} of {} needs {}", proto.raw_data().size(),
                              shapeString(*shape), dtypeName(*dtype), bytes));
    Tensor t = Tensor::zeros(*dtype, *shape);
    std::memcpy(t.raw(), proto.raw_data().data(), bytes);
    // Kernels read these as C++ bool, for which any byte but 0 and 1 is undefined behaviour.
    if (*dtype == DType::Bool)
      for (int64_t i = 0; i < n; ++i) t.data<bool>()[i] = proto.raw_data()[static_cast<size_t>(i)] != 0;
    return t;
  }
  switch (*dtype) {
    case DType::F32: CLEAVE_TRY(expectCount(proto.float_data(), n, "float_data")); break;
    case DType::I64: CLEAVE_TRY(expectCount(proto.int64_data(), n, "int64_data")); break;
    case DType::Undefined: break;
    default: CLEAVE_TRY(expectCount(proto.int32_data(), n, "int32_data")); break;
  }
  Tensor t = Tensor::zeros(*dtype, *shape);
  switch (*dtype) {
    case DType::F32: {
      std::copy(proto.float_data().begin(), proto.float_data().end(), t.data<float>());
      break;
    }
    case DType::I64: {
      std::copy(proto.int64_data().begin(), proto.int64_data().end(), t.data<int64_t>());
      break;
    }
    case DType::I32:
    case DType::I8:
    case DType::U8:
    case DType::Bool:
    case DType::F16: {
      for (int64_t i = 0; i < n; ++i) {
        int32_t v = proto.int32_data(static_cast<int>(i));
        switch (*dtype) {
          case DType::I32: t.data<int32_t>()[i] = v; break;
          case DType::I8: t.data<int8_t>()[i] = static_cast<int8_t>(v); break;
          case DType::U8: t.data<uint8_t>()[i] = static_cast<uint8_t>(v); break;
          case DType::Bool: t.data<bool>()[i] = v != 0; break;
          case DType::F16: t.data<uint16_t>()[i] = static_cast<uint16_t>(v); break;
          default: break;
        }
      }
      break;
    }
    case DType::Undefined: break;
  }
  return t;
}

Result<Tensor> readTensorProtoFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{fmt::format("{}: cannot open file", path)};
  std::stringstream buffer;
  buffer << in.rdbuf();
  onnx::TensorProto proto;
  if (!proto.ParseFromString(buffer.str())) return Error{fmt::format("{}: not a valid TensorProto", path)};
  Result<Tensor> t = tensorFromProto(proto);
  if (!t) return Error{fmt::format("{}: {}", path, t.error().message)};
  return t;
}

Result<Graph> importOnnxModel(const onnx::ModelProto& model, const ImportOptions& options) {
  Graph graph;
  const onnx::GraphProto& g = model.graph();
  graph.name = g.name();
  bool sawDefaultDomain = false;
  for (const auto& opset : model.opset_import()) {
    if (opset.domain().empty() || opset.domain() == "ai.onnx") {
      graph.opset = opset.version();
      sawDefaultDomain = true;
    }
  }
  if (!sawDefaultDomain) return Error{"model declares no opset for the default ONNX domain"};
  if (graph.opset < MIN_OPSET || graph.opset > MAX_OPSET)
    return Error{fmt::format("opset {} is not supported (cleave reads opsets {} to {})", graph.opset, MIN_OPSET, MAX_OPSET)};

  for (const auto& init : g.initializer()) {
    Result<Tensor> t = tensorFromProto(init);
    if (!t) return Error{fmt::format("initializer: {}", t.error().message)};
    graph.initializers[init.name()] = std::move(t).value();
  }
  for (const auto& input : g.input()) {
    if (graph.isInitializer(input.name())) continue;  // older exporters list weights as inputs
    Result<TensorType> type = typeFromValueInfo(input, options);
    if (!type) return type.error();
    graph.inputs.push_back({input.name(), *type});
  }
  for (const auto& output : g.output()) graph.outputs.push_back({output.name(), {}});

  std::set<std::string> names;
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& n = g.node(i);
    Node node;
    node.name = n.name().empty() ? fmt::format("{}_{}", n.op_type(), i) : n.name();
    if (!names.insert(node.name).second) node.name = fmt::format("{}_{}", node.name, i);
    node.opType = n.op_type();
    node.domain = n.domain() == "ai.onnx" ? "" : n.domain();
    if (!findOp(node.domain, node.opType)) {
      return Error{fmt::format("node '{}' uses op '{}{}', which cleave does not support", node.name,
                               node.domain.empty() ? "" : node.domain + "::", node.opType)};
    }
    node.inputs.assign(n.input().begin(), n.input().end());
    node.outputs.assign(n.output().begin(), n.output().end());
    for (const auto& a : n.attribute()) {
      Result<AttributeValue> value = attributeFromProto(a);
      if (!value) return Error{fmt::format("node '{}' ({}): {}", node.name, node.opType, value.error().message)};
      node.attributes.set(a.name(), std::move(value).value());
    }
    graph.nodes.push_back(std::move(node));
  }
  CLEAVE_TRY(sortTopologically(graph));
  return graph;
}

Result<Graph> importOnnxFile(const std::string& path, const ImportOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{fmt::format("{}: cannot open file", path)};
  std::stringstream buffer;
  buffer << in.rdbuf();
  return importOnnxBytes(buffer.view(), path, options);
}

Result<Graph> importOnnxBytes(std::string_view bytes, const std::string& nameForErrors, const ImportOptions& options) {
  // protobuf sizes are int; a larger file is no model cleave could run anyway.
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    return Error{fmt::format("{}: {} bytes is too large for protobuf", nameForErrors, bytes.size())};
  onnx::ModelProto model;
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return Error{fmt::format("{}: not a valid ONNX model (protobuf parse failed; truncated file?)", nameForErrors)};
  if (!model.has_graph()) return Error{fmt::format("{}: not a valid ONNX model (no graph)", nameForErrors)};
  Result<Graph> graph = importOnnxModel(model, options);
  if (!graph) return Error{fmt::format("{}: {}", nameForErrors, graph.error().message)};
  return graph;
}

}  // namespace cleave

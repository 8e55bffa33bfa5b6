#include "tools/cleavectl/evaluate_command.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "runtime/int8/kernels.h"
#include "runtime/npy.h"
#include "runtime/onnx_import.h"
#include "runtime/passes/optimize.h"
#include "runtime/session.h"
#include "tools/cleavectl/batch_rows.h"

namespace cleave::cli {
namespace {

struct EvaluateOptions {
  std::string model;
  std::string images;
  std::string labels;
  std::string outputs;
  int64_t limit = 0;
};

int fail(const std::string& message) {
  fmt::print(stderr, "cleavectl: error: {}\n", message);
  return 1;
}

// An integer-only model's int8 input is read by a DequantizeLinear whose scale and zero point say
// how to quantise a float image for it.
Result<std::pair<float, int32_t>> inputQuantisation(const Graph& graph) {
  const std::string& input = graph.inputs[0].name;
  for (const Node& node : graph.nodes)
    if (node.opType == "DequantizeLinear" && node.inputs.size() == 3 && node.inputs[0] == input &&
        graph.isInitializer(node.inputs[1]) && graph.isInitializer(node.inputs[2]))
      return std::pair{graph.initializers.at(node.inputs[1]).data<float>()[0],
                       static_cast<int32_t>(graph.initializers.at(node.inputs[2]).toInt64s()[0])};
  return Error{fmt::format("int8 input '{}' is not read by a DequantizeLinear with constant parameters", input)};
}

int evaluate(const EvaluateOptions& options) {
  Result<Graph> imported = importOnnxFile(options.model);
  if (!imported) return fail(imported.error().message);
  if (imported->inputs.size() != 1)
    return fail(fmt::format("{}: evaluate feeds a model with one input", options.model));
  std::pair<float, int32_t> quantisation{1.0f, 0};
  const ValueInfo input = imported->inputs[0];
  if (input.type.dtype == DType::I8) {
    Result<std::pair<float, int32_t>> q = inputQuantisation(*imported);
    if (!q) return fail(fmt::format("{}: {}", options.model, q.error().message));
    quantisation = *q;
  } else if (input.type.dtype != DType::F32) {
    return fail(fmt::format("{}: input '{}' is {}; evaluate feeds float or int8", options.model, input.name,
                            input.type.toString()));
  }
  Graph graph = std::move(imported).value();
  if (Status optimized = optimizeGraph(graph); !optimized)
    return fail(fmt::format("{}: {}", options.model, optimized.error().message));

  Result<Tensor> images = readNpy(options.images);
  if (!images) return fail(images.error().message);
  Result<Tensor> labels = readNpy(options.labels);
  if (!labels) return fail(labels.error().message);
  const int64_t rowElements = input.type.numel();
  Result<int64_t> rows = batchRows(*images, TensorType{DType::F32, input.type.shape}, options.images);
  if (!rows) return fail(rows.error().message);
  if (labels->dtype() != DType::I64 || labels->numel() != *rows)
    return fail(fmt::format("{}: needs {} int64 labels, holds {}", options.labels, *rows, labels->type().toString()));
  const int64_t count = options.limit > 0 ? std::min(options.limit, *rows) : *rows;

  Result<std::unique_ptr<Session>> session = Session::create(graph);
  if (!session) return fail(fmt::format("{}: {}", options.model, session.error().message));
  Tensor row = Tensor::zeros(input.type);
  std::vector<double> ms;
  std::vector<Tensor> outputs;
  int64_t correct = 0;
  for (int64_t n = 0; n < count; ++n) {
    const float* image = images->data<float>() + n * rowElements;
    if (input.type.dtype == DType::I8)
      cleave_q_quantize(rowElements, image, quantisation.first, quantisation.second, row.data<int8_t>());
    else
      std::memcpy(row.raw(), image, row.bytes());
    const auto start = std::chrono::steady_clock::now();
    Result<std::vector<Tensor>> out = (*session)->run({row});
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    if (!out) return fail(fmt::format("image {}: {}", n, out.error().message));
    const Tensor& logits = (*out)[0];
    const std::vector<float> values = logits.toFloats();  // int8 logits order as their floats do
    const auto best = std::max_element(values.begin(), values.end()) - values.begin();
    correct += best == labels->data<int64_t>()[n];
    if (!options.outputs.empty()) outputs.push_back(logits);
  }
  std::sort(ms.begin(), ms.end());
  fmt::print("{}: top-1 {:.4f} ({} of {}); per input median {:.4f} ms, p95 {:.4f} ms\n", options.model,
             static_cast<double>(correct) / static_cast<double>(count), correct, count, ms[ms.size() / 2],
             ms[std::min(ms.size() - 1, static_cast<size_t>(0.95 * static_cast<double>(ms.size())))]);
  if (!options.outputs.empty()) {
    Shape shape = outputs[0].shape();
    shape.insert(shape.begin(), count);
    Tensor stacked = Tensor::zeros(outputs[0].dtype(), shape);
    for (int64_t n = 0; n < count; ++n)
      std::memcpy(stacked.raw() + n * static_cast<int64_t>(outputs[0].bytes()), outputs[static_cast<size_t>(n)].raw(),
                  outputs[0].bytes());
    if (Status written = writeNpy(options.outputs, stacked); !written) return fail(written.error().message);
  }
  return 0;
}

}  // namespace

void addEvaluateCommand(CLI::App& model, int& exitCode) {
  auto options = std::make_shared<EvaluateOptions>();
  CLI::App* cmd = model.add_subcommand("evaluate", "Top-1 accuracy and per-input latency on a labelled .npy batch");
  cmd->add_option("model", options->model, "ONNX model (float, QDQ or integer-only)")->required();
  cmd->add_option("--images", options->images, "float32 .npy [N, ...]; quantised for an int8 input")->required();
  cmd->add_option("--labels", options->labels, "int64 .npy [N]")->required();
  cmd->add_option("--outputs", options->outputs, "Write every input's output 0 here, stacked (.npy)");
  cmd->add_option("--limit", options->limit, "Only the first N inputs")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  cmd->callback([options, &exitCode] { exitCode = evaluate(*options); });
}

}  // namespace cleave::cli

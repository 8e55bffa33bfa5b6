#include "tools/cleavectl/quantize_command.h"

#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "runtime/npy.h"
#include "runtime/onnx_export.h"
#include "runtime/onnx_import.h"
#include "runtime/passes/optimize.h"
#include "runtime/quantize/calibration.h"
#include "runtime/quantize/quantize_graph.h"
#include "tools/cleavectl/batch_rows.h"
#include "tools/demo/fmnist_reader.h"

namespace cleave::cli {
namespace {

namespace fs = std::filesystem;

struct QuantizeOptions {
  std::string model;
  std::string calibration;
  std::string mode = "int8";
  std::string method = "minmax";
  double percentile = 99.99;
  int64_t samples = 1000;
  std::string output;
};

const std::map<std::string, QuantizeMode> MODES = {{"int8", QuantizeMode::Int8},
                                                   {"int8-float-fallback", QuantizeMode::Int8FloatFallback},
                                                   {"integer-only", QuantizeMode::IntegerOnly}};

int fail(const std::string& message) {
  fmt::print(stderr, "cleavectl: error: {}\n", message);
  return 1;
}

// A .npy batch [N, ...] whose rows each match the input ([1, ...] or the input's shape without
// its batch axis), or a folder with Fashion-MNIST's gzipped IDX files (the training split: the
// test split stays unseen for measuring accuracy). At most `limit` samples.
Result<CalibrationSamples> loadCalibration(const std::string& source, const ValueInfo& input, int64_t limit) {
  CalibrationSamples samples;
  if (fs::is_directory(source)) {
    Result<demo::LabelledImages> images = demo::readFashionMnist(source, "train");
    if (!images) return images.error();
    for (Tensor& image : images->images) {
      if (static_cast<int64_t>(samples.size()) == limit) break;
      if (image.type() != input.type)
        return Error{fmt::format("{}: Fashion-MNIST images are {}, input '{}' expects {}", source,
                                 image.type().toString(), input.name, input.type.toString())};
      samples.push_back({std::move(image)});
    }
    return samples;
  }
  Result<Tensor> batch = readNpy(source);
  if (!batch) return batch.error();
  Result<int64_t> rows = batchRows(*batch, input.type, source);
  if (!rows) return Error{rows.error().message + " (calibration)"};
  const int64_t rowElements = input.type.numel();
  for (int64_t n = 0; n < std::min(*rows, limit); ++n) {
    Tensor row = Tensor::zeros(input.type);
    std::memcpy(row.raw(), batch->raw() + n * rowElements * static_cast<int64_t>(dtypeSize(input.type.dtype)),
                row.bytes());
    samples.push_back({std::move(row)});
  }
  return samples;
}

int quantize(const QuantizeOptions& options) {
  Result<Graph> imported = importOnnxFile(options.model);
  if (!imported) return fail(imported.error().message);
  Graph graph = std::move(imported).value();
  // The passes that simplify without leaving standard ONNX (no FusedConv): BatchNorm folded into
  // its Conv is quantised once, as TFLM's converter does.
  OptimizeOptions passes;
  passes.fuseActivations = false;
  Status optimized = optimizeGraph(graph, nullptr, passes);
  if (!optimized) return fail(fmt::format("{}: {}", options.model, optimized.error().message));

  Result<QuantizeReport> report = Error{""};
  if (options.mode == "float16") {
    report = storeWeightsAsFloat16(graph);
  } else {
    if (options.calibration.empty()) return fail(fmt::format("--mode {} needs --calibration", options.mode));
    if (graph.inputs.size() != 1)
      return fail(fmt::format("{}: model has {} inputs; calibration feeds one", options.model, graph.inputs.size()));
    Result<CalibrationSamples> samples = loadCalibration(options.calibration, graph.inputs[0], options.samples);
    if (!samples) return fail(samples.error().message);
    CalibrationOptions calibration;
    calibration.method = options.method == "percentile" ? CalibrationMethod::Percentile : CalibrationMethod::MinMax;
    calibration.percentile = options.percentile;
    Result<std::map<std::string, ValueRange>> ranges = calibrateRanges(graph, *samples, calibration);
    if (!ranges) return fail(fmt::format("{}: calibration: {}", options.model, ranges.error().message));
    fmt::print("calibrated {} values on {} samples ({})\n", ranges->size(), samples->size(),
               options.method == "percentile" ? fmt::format("percentile {}", options.percentile) : "min/max");
    report = quantizeGraph(graph, *ranges, MODES.at(options.mode));
  }
  if (!report) return fail(fmt::format("{}: {}", options.model, report.error().message));
  Status written = exportOnnxFile(graph, options.output);
  if (!written) return fail(written.error().message);

  fmt::print("{}: {} ({} ops quantised{})\n", options.model, options.mode, report->quantizedNodes,
             report->floatNodes.empty() ? "" : fmt::format(", {} left in float", report->floatNodes.size()));
  for (const std::string& node : report->floatNodes) fmt::print("  float: {}\n", node);
  std::error_code error;
  const auto before = fs::file_size(options.model, error), after = fs::file_size(options.output, error);
  fmt::print("weights {} -> {} bytes; file {} -> {} bytes\n", report->weightBytesBefore, report->weightBytesAfter,
             before, after);
  fmt::print("wrote {}\n", options.output);
  return 0;
}

}  // namespace

void addQuantizeCommand(CLI::App& model, int& exitCode) {
  auto options = std::make_shared<QuantizeOptions>();
  CLI::App* cmd = model.add_subcommand("quantize", "Post-training quantisation to ONNX QDQ (int8) or float16 weights");
  cmd->add_option("model", options->model, "ONNX model")->required();
  cmd->add_option("--calibration", options->calibration,
                  "A .npy batch [N, ...] of inputs, or a Fashion-MNIST folder (its training images)");
  cmd->add_option("--mode", options->mode,
                  "int8 (float in and out), int8-float-fallback (ops without an int8 kernel stay float), "
                  "integer-only (int8 in and out) or float16 (weights stored as float16)")
      ->check(CLI::IsMember({"int8", "int8-float-fallback", "integer-only", "float16"}));
  cmd->add_option("--method", options->method, "Calibration: minmax (default) or percentile")
      ->check(CLI::IsMember({"minmax", "percentile"}));
  cmd->add_option("--percentile", options->percentile, "For --method percentile: the share of values kept")
      ->check(CLI::Range(50.0, 100.0));
  cmd->add_option("--samples", options->samples, "Calibrate on at most this many inputs")
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("-o,--output", options->output, "Output ONNX file")->required();
  cmd->callback([options, &exitCode] { exitCode = quantize(*options); });
}

}  // namespace cleave::cli

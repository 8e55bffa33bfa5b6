// `cleavectl model quantize`: post-training quantisation of an ONNX model into ONNX's QDQ form
// (runtime/quantize/), calibrated on a .npy batch or on Fashion-MNIST's training images.
#pragma once

#include <CLI/CLI.hpp>

namespace cleave::cli {

// Adds `quantize` under the `model` subcommand.
void addQuantizeCommand(CLI::App& model, int& exitCode);

}  // namespace cleave::cli

// `cleavectl model ...`: inspect, run and optimize ONNX models with cleave's runtime.
#pragma once

#include <CLI/CLI.hpp>

namespace cleave::cli {

// Adds the `model` subcommand tree to the app; each leaf runs when parsed.
void addModelCommands(CLI::App& app, int& exitCode);

}  // namespace cleave::cli

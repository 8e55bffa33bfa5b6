// `cleavectl model evaluate`: a model's top-1 accuracy and per-input latency on a labelled batch
// (.npy images and labels), e.g. a quantised model against its float original before deploying it.
#pragma once

#include <CLI/CLI.hpp>

namespace cleave::cli {

// Adds `evaluate` under the `model` subcommand.
void addEvaluateCommand(CLI::App& model, int& exitCode);

}  // namespace cleave::cli

// `cleavectl model prune`: magnitude pruning without retraining (runtime/passes/prune.h).
#pragma once

#include <CLI/CLI.hpp>

namespace cleave::cli {

// Adds `prune` under the `model` subcommand.
void addPruneCommand(CLI::App& model, int& exitCode);

}  // namespace cleave::cli

// `cleavectl model export-c`: an int8 model, or one stage of it, as a C header and source holding
// a stage image (runtime/int8/stage_image.h) in a const, 16-byte aligned array, for firmware with
// no file system.
#pragma once

#include <CLI/CLI.hpp>

namespace cleave::cli {

// Adds `export-c` under the `model` subcommand.
void addExportCCommand(CLI::App& model, int& exitCode);

}  // namespace cleave::cli

// `cleavectl keygen`: write a CURVE key pair for a fleet member.
#pragma once

#include <CLI/CLI.hpp>

namespace cleave::cli {

// Adds the `keygen` subcommand to the app; it runs when parsed and sets exitCode.
void addKeygenCommand(CLI::App& app, int& exitCode);

}  // namespace cleave::cli

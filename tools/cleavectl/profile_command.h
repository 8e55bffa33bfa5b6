// `cleavectl profile`: measure this machine's MAC/s per op class and print a [[device]] block.
#pragma once

#include <CLI/CLI.hpp>

namespace cleave::cli {

// Adds the `profile` subcommand to the app; it runs when parsed and sets exitCode.
void addProfileCommand(CLI::App& app, int& exitCode);

}  // namespace cleave::cli

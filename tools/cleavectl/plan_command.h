// `cleavectl plan`: plan a topology file and print the plan, its runner-ups or a bandwidth sweep.
#pragma once

#include <CLI/CLI.hpp>

namespace cleave::cli {

// Adds the `plan` subcommand to the app; it runs when parsed and sets exitCode.
void addPlanCommand(CLI::App& app, int& exitCode);

}  // namespace cleave::cli

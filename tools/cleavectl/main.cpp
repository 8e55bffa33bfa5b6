// cleavectl: the operator's command line. main() only wires subcommands together.
#include <CLI/CLI.hpp>

#include "tools/cleavectl/model_commands.h"

int main(int argc, char** argv) {
  CLI::App app{"cleavectl: inspect, run and plan models for a cleave fleet"};
  app.require_subcommand(1);
  int exitCode = 0;
  cleave::cli::addModelCommands(app, exitCode);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exitCode;
}

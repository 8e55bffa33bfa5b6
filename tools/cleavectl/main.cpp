// cleavectl: the operator's command line. main() only wires subcommands together.
#include <CLI/CLI.hpp>

#include "tools/cleavectl/fleet_up.h"
#include "tools/cleavectl/keygen_command.h"
#include "tools/cleavectl/model_commands.h"
#include "tools/cleavectl/operator_commands.h"
#include "tools/cleavectl/plan_command.h"
#include "tools/cleavectl/profile_command.h"

int main(int argc, char** argv) {
  CLI::App app{"cleavectl: inspect, run and plan models for a cleave fleet"};
  app.require_subcommand(1);
  int exitCode = 0;
  cleave::cli::addModelCommands(app, exitCode);
  cleave::cli::addPlanCommand(app, exitCode);
  cleave::cli::addProfileCommand(app, exitCode);
  cleave::cli::addKeygenCommand(app, exitCode);
  cleave::cli::addOperatorCommands(app, exitCode);  // after addPlanCommand: adds `plan show` and `plan apply`
  cleave::cli::addFleetCommands(app, exitCode);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exitCode;
}

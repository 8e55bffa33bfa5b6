#include "tools/cleavectl/plan_command.h"

namespace cleave::cli {

void addPlanCommand(CLI::App& app, int& exitCode) {
  (void)app;
  (void)exitCode;
}

}  // namespace cleave::cli

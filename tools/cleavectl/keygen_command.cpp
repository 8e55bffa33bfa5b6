#include "tools/cleavectl/keygen_command.h"

namespace cleave::cli {

void addKeygenCommand(CLI::App& app, int& exitCode) {
  (void)app;
  (void)exitCode;
}

}  // namespace cleave::cli

// cleaved: loads a topology, admits the agents and operators it lists, plans and keeps planning.
#include <csignal>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include "daemon/daemon.h"

namespace {

std::atomic<bool> stopRequested{false};
extern "C" void onSignal(int) { stopRequested = true; }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cleaved: the cleave fleet daemon"};
  cleave::daemon::DaemonOptions options;
  std::string logFile;
  bool verbose = false;
  app.add_option("--config", options.configPath, "Topology file (TOML)")->required();
  app.add_option("--keys", options.keysDir, "Key folder (default: the topology's [fleet] keys)");
  app.add_option("--control", options.controlEndpoint, "Control endpoint to bind (default: [fleet] daemon)");
  app.add_option("--operator", options.operatorEndpoint, "Operator endpoint to bind (default: [fleet] operator_endpoint)");
  app.add_option("--endpoints-file", options.endpointsFile, "Write the bound endpoints here once listening");
  app.add_option("--model", options.modelOverride, "Plan this bundle or .onnx instead of [model] bundle");
  app.add_option("--log", logFile, "Log to this file instead of stderr");
  app.add_flag("-v,--verbose", verbose, "Log debug events too");
  CLI11_PARSE(app, argc, argv);

  if (!logFile.empty()) spdlog::set_default_logger(spdlog::basic_logger_mt("cleaved", logFile));
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  spdlog::flush_on(spdlog::level::info);
  if (verbose) spdlog::set_level(spdlog::level::debug);
  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);

  cleave::Result<std::unique_ptr<cleave::daemon::Daemon>> daemon = cleave::daemon::Daemon::create(options);
  if (!daemon) {
    spdlog::error("{}", daemon.error().message);
    if (!logFile.empty()) fprintf(stderr, "cleaved: error: %s\n", daemon.error().message.c_str());
    return 1;
  }
  (*daemon)->run(stopRequested);
  return 0;
}

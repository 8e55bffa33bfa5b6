// cleave-agent --config AGENT.toml [--log FILE]: runs this device's stages of the fleet's plan.
// main() parses the command line, sets up logging and the stop signals, and hands over to Agent.
#include <fcntl.h>
#include <signal.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>

#include <CLI/CLI.hpp>

#include "agent/agent.h"
#include "config/agent_config.h"

namespace {

int stopWriteFd = -1;  // the stop pipe's write end, for the signal handler

// Async-signal-safe: one write, errno kept. A full pipe already says "stop".
extern "C" void onStopSignal(int) {
  const int saved = errno;
  const char byte = 1;
  (void)!write(stopWriteFd, &byte, 1);
  errno = saved;
}

// One line per event: time, the agent's name, level, what happened.
constexpr const char* LOG_PATTERN = "%Y-%m-%d %H:%M:%S.%e [%n] %l: %v";

std::shared_ptr<spdlog::logger> makeLogger(const std::string& name, const std::string& file) {
  std::shared_ptr<spdlog::logger> log;
  try {
    if (file.empty())
      log = std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::stderr_sink_mt>());
    else
      log = std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::basic_file_sink_mt>(file));
  } catch (const spdlog::spdlog_ex& e) {
    fprintf(stderr, "cleave-agent: cannot open log file %s: %s\n", file.c_str(), e.what());
    return nullptr;
  }
  log->set_pattern(LOG_PATTERN);
  log->set_level(spdlog::level::info);
  // Every line reaches the file at once: operators tail it, tests read it.
  log->flush_on(spdlog::level::info);
  return log;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cleave-agent: runs this device's stages of a cleave fleet's plan"};
  std::string configPath, logPath;
  bool verbose = false;
  app.add_option("--config", configPath, "The agent's configuration file (agent.toml)")->required();
  app.add_option("--log", logPath, "Append the log to this file instead of stderr");
  app.add_flag("--verbose", verbose, "Also log every stage run and telemetry figure");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  std::shared_ptr<spdlog::logger> log = makeLogger("cleave-agent", logPath);
  if (!log) return 2;
  cleave::Result<cleave::config::AgentConfig> config = cleave::config::loadAgentConfig(configPath);
  if (!config) {
    log->error("{}", config.error().message);
    return 2;
  }
  log = log->clone(config->name);
  if (verbose) log->set_level(spdlog::level::debug);

  // SIGTERM and SIGINT become a readable pipe in the agent's poll set. A handler writes to it,
  // not a signalfd with the signals blocked: blocking only covers threads started after it, and
  // libraries start threads before main() (OpenBLAS's pthread build does, at load), so a signal
  // taken by one of those would kill the agent instead of stopping it cleanly.
  int stopPipe[2];
  if (pipe2(stopPipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    log->error("cannot create the stop pipe for SIGTERM/SIGINT");
    return 1;
  }
  stopWriteFd = stopPipe[1];
  struct sigaction action {};
  action.sa_handler = onStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  if (sigaction(SIGTERM, &action, nullptr) != 0 || sigaction(SIGINT, &action, nullptr) != 0) {
    log->error("cannot handle SIGTERM/SIGINT");
    return 1;
  }
  const int stopFd = stopPipe[0];

  log->info("starting (config {})", configPath);
  int status = 0;
  {
    cleave::Result<std::unique_ptr<cleave::agent::Agent>> agent = cleave::agent::Agent::create(*config, log);
    if (!agent) {
      log->error("{}", agent.error().message);
      status = 1;
    } else if (cleave::Status ran = (*agent)->run(stopFd); !ran) {
      log->error("{}", ran.error().message);
      status = 1;
    }
  }  // sockets, the compute thread and the ZeroMQ context close here
  log->info("stopped");
  return status;
}

// cleave-agent --config AGENT.toml [--log FILE]: runs this device's stages of the fleet's plan.
// main() parses the command line, sets up logging and the stop signals, and hands over to Agent.
#include <signal.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "agent/agent.h"
#include "config/agent_config.h"

namespace {

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

  // SIGTERM and SIGINT become a readable file descriptor in the agent's poll set. They are
  // blocked before any thread starts (ZeroMQ's, the compute thread), so no thread takes them.
  sigset_t stopSignals;
  sigemptyset(&stopSignals);
  sigaddset(&stopSignals, SIGTERM);
  sigaddset(&stopSignals, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr) != 0) {
    log->error("cannot block SIGTERM/SIGINT");
    return 1;
  }
  const int stopFd = signalfd(-1, &stopSignals, SFD_CLOEXEC | SFD_NONBLOCK);
  if (stopFd < 0) {
    log->error("cannot create a signalfd for SIGTERM/SIGINT");
    return 1;
  }

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
  close(stopFd);
  log->info("stopped");
  return status;
}

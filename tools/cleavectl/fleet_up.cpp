#include "tools/cleavectl/fleet_up.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "config/device_table.h"
#include "config/fleet_config.h"
#include "proto/key_files.h"
#include "tools/cleavectl/operator_client.h"

extern char** environ;

namespace cleave::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int POLL_INTERVAL_MS = 20;  // the longest pause between two looks at a file or a process
constexpr double ENDPOINTS_WAIT_SECONDS = 10.0;
constexpr double ONLINE_WAIT_SECONDS = 15.0;
constexpr int STATUS_INTERVAL_MS = 100;  // between two status requests while waiting
constexpr double DOWN_GRACE_SECONDS = 5.0;
constexpr double KILL_WAIT_SECONDS = 2.0;  // after SIGKILL, for the kernel to tear a process down
constexpr size_t LOG_TAIL_LINES = 15;
constexpr const char* LOCAL_ENDPOINT = "tcp://127.0.0.1:*";

int fail(const std::string& message) {
  fmt::print(stderr, "cleavectl: error: {}\n", message);
  return 1;
}

double secondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Waits up to `ms` for the signal pipe (or just waits, without one). True when a signal came.
bool pauseOrSignal(SignalPipe* signals, int ms) {
  if (signals == nullptr) {
    ::poll(nullptr, 0, ms);
    return false;
  }
  struct pollfd item {
    signals->fd(), POLLIN, 0
  };
  ::poll(&item, 1, ms);
  return signals->received().has_value();
}

std::string exitText(int status) {
  if (WIFEXITED(status)) return fmt::format("exit status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return fmt::format("killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return "stopped";
}

// A small file's text ("" when it cannot be read; the parser then finds nothing).
std::string fileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string indented(const std::string& text) {
  std::string out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out += "    " + line + "\n";
  return out;
}

// Makes DIR/NAME.pub and .secret unless both exist and belong together (reused then).
Status ensureKeyPair(const std::string& dir, const std::string& name, std::vector<std::string>& made) {
  proto::KeyFilePaths paths = proto::keyFilePaths(dir, name);
  std::error_code ec;
  const bool hasPublic = fs::exists(paths.publicPath, ec), hasSecret = fs::exists(paths.secretPath, ec);
  if (hasPublic && hasSecret) {
    Result<proto::CurveKeyPair> keys = proto::readKeyFiles(dir, name);
    if (!keys) return keys.error();
    return {};
  }
  if (hasPublic || hasSecret)
    return Error{fmt::format("{}: found without {}; remove it or restore the pair",
                             hasPublic ? paths.publicPath : paths.secretPath,
                             hasPublic ? paths.secretPath : paths.publicPath)};
  Result<proto::CurveKeyPair> keys = proto::generateKeyPair();
  if (!keys) return keys.error();
  CLEAVE_TRY(proto::writeKeyFiles(*keys, dir, name, false));
  made.push_back(name);
  return {};
}

// The processes `up` started, written to the pids file after each start so that `down` can
// stop them even if `up` itself dies half-way.
class Launch {
 public:
  explicit Launch(StatePaths paths) : paths_(std::move(paths)) {}

  Result<pid_t> start(const std::string& name, const std::vector<std::string>& argv, const std::string& log) {
    Result<pid_t> pid = spawnDetached(argv, log);
    if (!pid) return pid.error();
    records_.push_back({name, *pid, processStartTicks(*pid).value_or(0)});
    logs_.push_back(log);
    CLEAVE_TRY(writeFileAtomically(paths_.pids, formatPidsFile(records_)));
    return *pid;
  }

  // A process that exited already, with how it ended; reaps it.
  std::optional<std::pair<size_t, int>> exited() {
    for (size_t i = 0; i < records_.size(); ++i) {
      int status = 0;
      if (::waitpid(records_[i].pid, &status, WNOHANG) == records_[i].pid) return std::pair{i, status};
    }
    return std::nullopt;
  }

  // Stops everything started (for a failed up) and removes the pids file.
  void abort() {
    stopProcesses(records_, DOWN_GRACE_SECONDS, true);
    std::error_code ec;
    fs::remove(paths_.pids, ec);
    fs::remove(paths_.endpoints, ec);
  }

  // An error about process i that ended early, with the end of its log.
  std::string earlyExit(size_t i, int status) const {
    return fmt::format("{} (pid {}) exited early: {}; the end of {}:\n{}", records_[i].name, records_[i].pid,
                       exitText(status), logs_[i], indented(tailOfFile(logs_[i], LOG_TAIL_LINES)));
  }

  const std::vector<ProcessRecord>& records() const { return records_; }

 private:
  StatePaths paths_;
  std::vector<ProcessRecord> records_;
  std::vector<std::string> logs_;
};

struct UpOptions {
  std::string config;
  std::string state;
  std::string model;
  std::string binDir;
  bool noShape = false;
  bool pace = false;
};

struct DownOptions {
  std::string state;
};

// The root app's --state, when the operator gave it before the command name.
std::string globalState(CLI::App& app) {
  const CLI::Option* option = app.get_option_no_throw("--state");
  if (option == nullptr || option->count() == 0) return "";
  return option->as<std::string>();
}

// Waits for the daemon's endpoints file (it writes it once both sockets are bound).
Result<std::map<std::string, std::string>> waitForEndpoints(const StatePaths& paths, Launch& launch,
                                                            SignalPipe* signals) {
  const auto start = Clock::now();
  while (true) {
    std::error_code ec;
    if (fs::exists(paths.endpoints, ec)) {
      Result<std::map<std::string, std::string>> endpoints = readKeyValueFile(paths.endpoints);
      if (!endpoints) return endpoints.error();
      for (const char* key : {"control", "operator"}) {
        auto found = endpoints->find(key);
        if (found == endpoints->end()) return Error{fmt::format("{}: no '{}=' line", paths.endpoints, key)};
        CLEAVE_TRY(checkEndpoint(found->second, paths.endpoints + ": " + key));
      }
      return endpoints;
    }
    if (auto gone = launch.exited()) return Error{launch.earlyExit(gone->first, gone->second)};
    if (secondsSince(start) > ENDPOINTS_WAIT_SECONDS)
      return Error{fmt::format("the daemon did not write {} within {}; the end of its log:\n{}", paths.endpoints,
                               secondsText(ENDPOINTS_WAIT_SECONDS),
                               indented(tailOfFile(paths.logs + "/daemon.log", LOG_TAIL_LINES)))};
    if (pauseOrSignal(signals, POLL_INTERVAL_MS)) return Error{"interrupted"};
  }
}

// Asks the daemon for its status until every agent is online under a plan. On a timeout the
// error names the agents still offline and shows the end of their logs.
Status waitForFleet(const OperatorTarget& target, size_t deviceCount, const StatePaths& paths, Launch& launch,
                    SignalPipe* signals) {
  const auto start = Clock::now();
  auto left = [&] { return std::max(0.1, ONLINE_WAIT_SECONDS - secondsSince(start)); };
  Result<std::unique_ptr<OperatorClient>> client = OperatorClient::connect(target, left(), "cleavectl up");
  if (!client) return client.error();
  std::string last = "no status yet";
  size_t lastOnline = 0;
  while (true) {
    if (auto gone = launch.exited()) return Error{launch.earlyExit(gone->first, gone->second)};
    Result<OperatorReplyMessage> reply = (*client)->request(
        [](wire::OperatorRequest::Builder r, std::vector<zmq::message_t>&) -> Status {
          r.setStatus();
          return {};
        },
        "status");
    if (!reply) return reply.error();
    if (reply->reply.which() != wire::OperatorReply::STATUS)
      return Error{"the daemon answered status with an unexpected reply"};
    wire::FleetStatus::Reader status = reply->reply.getStatus();
    if (status.getAgentsOnline() >= deviceCount && status.getEpoch() > 0) return {};
    lastOnline = status.getAgentsOnline();
    last = fmt::format("{}/{} agents online, {}", status.getAgentsOnline(), deviceCount,
                       status.getEpoch() > 0 ? fmt::format("plan epoch {}", status.getEpoch()) : "no plan installed");
    if (secondsSince(start) > ONLINE_WAIT_SECONDS) break;
    if (pauseOrSignal(signals, STATUS_INTERVAL_MS)) return Error{"interrupted"};
  }
  // Which agents are missing, and what their logs say; or, with all of them online, the daemon's.
  std::string detail;
  if (lastOnline >= deviceCount)
    detail =
        fmt::format("  the end of {}/daemon.log:\n{}", paths.logs, indented(tailOfFile(paths.logs + "/daemon.log", 5)));
  Result<OperatorReplyMessage> agents = (*client)->request(
      [](wire::OperatorRequest::Builder r, std::vector<zmq::message_t>&) -> Status {
        r.setAgents();
        return {};
      },
      "agents");
  if (agents && agents->reply.which() == wire::OperatorReply::AGENTS) {
    Result<std::string> offline = proto::decodeGuard("agents", [&]() -> Result<std::string> {
      std::string text;
      for (wire::AgentInfo::Reader agent : agents->reply.getAgents()) {
        if (agent.getOnline()) continue;
        std::string name = printable(agent.getName(), 64);
        std::string log = (fs::path(paths.logs) / (name + ".log")).string();
        if (proto::checkKeyName(name).ok())
          text += fmt::format("  {} is offline; the end of {}:\n{}", name, log, indented(tailOfFile(log, 5)));
      }
      return text;
    });
    if (offline) detail = *offline;
  }
  return Error{
      fmt::format("the fleet did not come up within {}: {}\n{}", secondsText(ONLINE_WAIT_SECONDS), last, detail)};
}

int up(const UpOptions& options, const std::string& rootState) {
  Result<config::FleetConfig> fleet = config::loadFleetConfig(options.config, options.model);
  if (!fleet) {
    // Topology errors are already "file:line:column: error: ..." lines, one per mistake.
    const std::string& message = fleet.error().message;
    if (message.find(": error: ") == std::string::npos) return fail(message);
    fmt::print(stderr, "{}\n", message);
    return 1;
  }
  const config::Topology& topology = fleet->topology;
  std::error_code ec;
  std::string stateText = !options.state.empty() ? options.state : rootState;
  fs::path stateDir = stateText.empty() ? fs::current_path() / ".cleave" / topology.name : fs::path(stateText);
  stateDir = fs::absolute(stateDir).lexically_normal();
  const StatePaths paths = statePaths(stateDir.string());

  Result<FleetBinaries> binaries = findFleetBinaries(options.binDir);
  if (!binaries) return fail(binaries.error().message);
  if (topology.operators.empty())
    return fail(fmt::format("{}: [fleet] operators is empty, so no operator may talk to the daemon; up needs one",
                            options.config));
  const std::string operatorKey =
      std::find(topology.operators.begin(), topology.operators.end(), DEFAULT_OPERATOR_KEY) != topology.operators.end()
          ? DEFAULT_OPERATOR_KEY
          : topology.operators.front();

  if (fs::exists(paths.pids, ec)) {
    Result<std::vector<ProcessRecord>> records = parsePidsFile(fileText(paths.pids), paths.pids);
    if (records && std::any_of(records->begin(), records->end(), processAlive))
      return fail(fmt::format("a fleet is already running from {} (see {}); stop it first: cleavectl down --state {}",
                              paths.dir, paths.pids, paths.dir));
  }

  for (const std::string& dir : {paths.dir, paths.keys, paths.agents, paths.logs}) {
    fs::create_directories(dir, ec);
    if (ec) return fail(fmt::format("{}: cannot create: {}", dir, ec.message()));
  }
  fs::permissions(paths.keys, fs::perms::owner_all, ec);  // secrets live here

  std::vector<std::string> keyNames = {"daemon"};
  for (const planner::DeviceProfile& device : topology.fleet.devices) keyNames.push_back(device.name);
  for (const std::string& name : topology.operators) keyNames.push_back(name);
  std::vector<std::string> made;
  for (const std::string& name : keyNames)
    if (Status ok = ensureKeyPair(paths.keys, name, made); !ok) return fail(ok.error().message);

  Result<std::vector<std::pair<std::string, toml::table>>> profiles = deviceProfileTables(options.config);
  if (!profiles) return fail(profiles.error().message);

  const std::string configPath = fs::absolute(options.config).lexically_normal().string();
  std::string fleetFile = fmt::format("# Written by `cleavectl up`.\nname={}\nconfig={}\noperator_key={}\n",
                                      topology.name, configPath, operatorKey);
  if (!options.model.empty())
    fleetFile += fmt::format("model={}\n", fs::absolute(options.model).lexically_normal().string());
  if (Status ok = writeFileAtomically(paths.fleet, fleetFile); !ok) return fail(ok.error().message);

  Result<std::unique_ptr<SignalPipe>> signals = SignalPipe::install();
  if (!signals) return fail(signals.error().message);
  Launch launch(paths);
  auto abort = [&](const std::string& message) {
    launch.abort();
    return fail(message + (launch.records().empty() ? "" : "\ncleavectl: stopped the processes up had started"));
  };

  // A new run's logs start empty; the daemon and agents append to them.
  fs::remove(paths.endpoints, ec);
  std::vector<std::string> logs = {(fs::path(paths.logs) / "daemon.log").string()};
  for (const auto& [name, profile] : *profiles) logs.push_back((fs::path(paths.logs) / (name + ".log")).string());
  for (const std::string& log : logs) std::ofstream(log, std::ios::trunc);

  const std::vector<std::pair<std::string, std::string>> daemonFlags = {
      {"--config", configPath},       {"--keys", paths.keys}, {"--control", LOCAL_ENDPOINT},
      {"--operator", LOCAL_ENDPOINT}, {"--log", logs[0]},     {"--endpoints-file", paths.endpoints}};
  std::vector<std::string> daemonArgs = {binaries->daemon};
  for (const auto& [flag, value] : daemonFlags) {
    daemonArgs.push_back(flag);
    daemonArgs.push_back(value);
  }
  if (!options.model.empty()) {
    daemonArgs.push_back("--model");
    daemonArgs.push_back(fs::absolute(options.model).lexically_normal().string());
  }
  if (Result<pid_t> pid = launch.start("daemon", daemonArgs, logs[0]); !pid) return abort(pid.error().message);

  Result<std::map<std::string, std::string>> endpoints = waitForEndpoints(paths, launch, signals->get());
  if (!endpoints) return abort(endpoints.error().message);
  const std::string control = endpoints->at("control");

  // Every agent replays its traces from this instant, so the links move in step. Not later: a
  // shaper holds what it is handed before its trace starts until the start.
  const double traceStart =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  if (Status ok = writeFileAtomically((fs::path(stateDir) / "trace-start").string(), fmt::format("{:.6f}\n", traceStart));
      !ok)
    return abort(ok.error().message);
  for (size_t i = 0; i < profiles->size(); ++i) {
    const auto& [name, profile] = (*profiles)[i];
    const std::string agentConfig = (fs::path(paths.agents) / (name + ".toml")).string();
    std::string text = agentConfigToml(name, control, profile, options.pace);
    if (!options.noShape) text += shapeTables(topology, name, traceStart);
    if (Status ok = writeFileAtomically(agentConfig, text); !ok)
      return abort(ok.error().message);
    Result<pid_t> pid =
        launch.start(name, {binaries->agent, "--config", agentConfig, "--log", logs[i + 1]}, logs[i + 1]);
    if (!pid) return abort(pid.error().message);
  }

  OperatorTarget target;
  target.endpoint = endpoints->at("operator");
  Result<proto::CurveKeyPair> own = proto::readKeyFiles(paths.keys, operatorKey);
  if (!own) return abort(own.error().message);
  target.keys = *own;
  Result<std::string> daemonKey = proto::readPublicKeyFile(proto::keyFilePaths(paths.keys, "daemon").publicPath);
  if (!daemonKey) return abort(daemonKey.error().message);
  target.daemonPublicKey = *daemonKey;
  if (Status ok = waitForFleet(target, profiles->size(), paths, launch, signals->get()); !ok)
    return abort(ok.error().message);

  std::string relative = fs::relative(stateDir, fs::current_path(), ec).string();
  const std::string shown = !ec && !relative.empty() && !relative.starts_with("..") ? relative : stateDir.string();
  fmt::print("fleet {} is up: the daemon and {} agent{} on 127.0.0.1{}\n", topology.name, profiles->size(),
             profiles->size() == 1 ? "" : "s",
             made.empty() ? "" : fmt::format(" (new keys: {})", fmt::join(made, ", ")));
  fmt::print("  state:    {}\n", shown);
  fmt::print("  control:  {}\n", control);
  fmt::print("  operator: {}\n", target.endpoint);
  fmt::print("  logs:     {}/\n", (fs::path(shown) / "logs").string());
  fmt::print("  try:      cleavectl --state {} status\n", shown);
  fmt::print("  stop:     cleavectl down --state {}\n", shown);
  return 0;
}

// The state folder `down` works on: as given, or the only fleet under ./.cleave.
Result<std::string> downState(const DownOptions& options, const std::string& rootState) {
  if (!options.state.empty()) return options.state;
  if (!rootState.empty()) return rootState;
  std::vector<std::string> found;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(".cleave", ec))
    if (fs::exists(entry.path() / "pids", ec)) found.push_back(entry.path().string());
  if (found.size() == 1) return found[0];
  if (found.empty()) return Error{"no running fleet under ./.cleave; give --state DIR"};
  std::sort(found.begin(), found.end());
  return Error{fmt::format("several fleets under ./.cleave ({}); give --state DIR", fmt::join(found, ", "))};
}

int down(const DownOptions& options, const std::string& rootState) {
  Result<std::string> state = downState(options, rootState);
  if (!state) return fail(state.error().message);
  const StatePaths paths = statePaths(*state);
  std::error_code ec;
  if (!fs::is_directory(paths.dir, ec)) return fail(fmt::format("--state {}: no such folder", paths.dir));
  if (!fs::exists(paths.pids, ec)) {
    fmt::print("nothing to stop: {} does not exist\n", paths.pids);
    return 0;
  }
  Result<std::vector<ProcessRecord>> records = parsePidsFile(fileText(paths.pids), paths.pids);
  if (!records) return fail(records.error().message);
  std::vector<StopOutcome> outcomes = stopProcesses(*records, DOWN_GRACE_SECONDS, false);
  bool survived = false;
  for (size_t i = 0; i < records->size(); ++i) {
    const ProcessRecord& r = (*records)[i];
    switch (outcomes[i]) {
      case StopOutcome::NotRunning:
        fmt::print("{} (pid {}) was not running\n", r.name, r.pid);
        break;
      case StopOutcome::Stopped:
        fmt::print("stopped {} (pid {})\n", r.name, r.pid);
        break;
      case StopOutcome::Killed:
        fmt::print("killed {} (pid {}): still running {} after SIGTERM\n", r.name, r.pid,
                   secondsText(DOWN_GRACE_SECONDS));
        break;
      case StopOutcome::Survived:
        fmt::print(stderr, "cleavectl: error: {} (pid {}) survived SIGKILL\n", r.name, r.pid);
        survived = true;
        break;
    }
  }
  if (survived) return 1;  // keep the pids file: the next down tries again
  fs::remove(paths.pids, ec);
  fs::remove(paths.endpoints, ec);
  return 0;
}

}  // namespace

std::string formatPidsFile(const std::vector<ProcessRecord>& records) {
  std::string text = "# name pid start (clock ticks after boot, /proc/PID/stat field 22); written by `cleavectl up`\n";
  for (const ProcessRecord& r : records) text += fmt::format("{} {} {}\n", r.name, r.pid, r.startTicks);
  return text;
}

Result<std::vector<ProcessRecord>> parsePidsFile(std::string_view text, const std::string& nameForErrors) {
  std::vector<ProcessRecord> records;
  std::istringstream in{std::string(text)};
  size_t lineNumber = 0;
  for (std::string line; std::getline(in, line);) {
    ++lineNumber;
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    ProcessRecord record;
    long long pid = 0;
    unsigned long long start = 0;
    std::string extra;
    if (!(fields >> record.name >> pid >> start) || (fields >> extra) || pid <= 1 ||
        pid > std::numeric_limits<pid_t>::max())
      return Error{fmt::format("{}:{}: expected 'NAME PID START', found '{}'", nameForErrors, lineNumber, line)};
    record.pid = static_cast<pid_t>(pid);
    record.startTicks = start;
    records.push_back(record);
  }
  return records;
}

namespace {

// State letter and start time from /proc/PID/stat; nullopt when there is no such process.
std::optional<std::pair<char, uint64_t>> readStat(pid_t pid) {
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string stat;
  if (!in || !std::getline(in, stat)) return std::nullopt;
  // The command name (field 2) is in parentheses and may hold spaces and ')': fields 3.. start
  // after the last ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 1));
  std::vector<std::string> values;
  for (std::string value; fields >> value && values.size() < 20;) values.push_back(value);
  if (values.size() < 20 || values[0].empty()) return std::nullopt;
  return std::pair{values[0][0], static_cast<uint64_t>(std::stoull(values[19]))};  // fields 3 and 22
}

}  // namespace

std::optional<uint64_t> processStartTicks(pid_t pid) {
  std::optional<std::pair<char, uint64_t>> stat = readStat(pid);
  if (!stat) return std::nullopt;
  return stat->second;
}

bool processAlive(const ProcessRecord& record) {
  std::optional<std::pair<char, uint64_t>> stat = readStat(record.pid);
  if (!stat || stat->first == 'Z' || stat->first == 'X') return false;
  return record.startTicks == 0 || stat->second == record.startTicks;
}

std::vector<StopOutcome> stopProcesses(const std::vector<ProcessRecord>& records, double graceSeconds,
                                       bool ownChildren) {
  std::vector<StopOutcome> outcomes(records.size(), StopOutcome::NotRunning);
  auto alive = [&](size_t i) {
    if (ownChildren) {
      int status = 0;
      ::waitpid(records[i].pid, &status, WNOHANG);  // reap, so it does not linger as a zombie
    }
    return processAlive(records[i]);
  };
  // Waits until none of `pending` is alive or the time is up; returns those still alive.
  auto waitFor = [&](std::vector<size_t> pending, double seconds) {
    const auto start = Clock::now();
    while (true) {
      std::erase_if(pending, [&](size_t i) { return !alive(i); });
      if (pending.empty() || secondsSince(start) >= seconds) return pending;
      ::poll(nullptr, 0, POLL_INTERVAL_MS);
    }
  };
  std::vector<size_t> running;
  for (size_t i = 0; i < records.size(); ++i)
    if (alive(i) && ::kill(records[i].pid, SIGTERM) == 0) {
      outcomes[i] = StopOutcome::Stopped;
      running.push_back(i);
    }
  std::vector<size_t> stubborn = waitFor(running, graceSeconds);
  for (size_t i : stubborn) {
    outcomes[i] = StopOutcome::Killed;
    ::kill(records[i].pid, SIGKILL);
  }
  for (size_t i : waitFor(stubborn, KILL_WAIT_SECONDS)) outcomes[i] = StopOutcome::Survived;
  return outcomes;
}

Result<pid_t> spawnDetached(const std::vector<std::string>& argv, const std::string& logPath) {
  if (argv.empty()) return Error{"nothing to start"};
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attributes);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  // A new session, an empty signal mask and default actions: a script that runs `up` in the
  // background (SIGINT ignored) or our own SIGINT handler must not leak into the fleet.
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int signal : {SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGQUIT}) sigaddset(&defaults, signal);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int error = posix_spawn(&pid, argv[0].c_str(), &actions, &attributes, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error != 0) return Error{fmt::format("cannot start {}: {}", argv[0], std::strerror(error))};
  return pid;
}

std::string tailOfFile(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::deque<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(line);
    if (last.size() > lines) last.pop_front();
  }
  std::string text;
  for (const std::string& line : last) text += line + "\n";
  return text.empty() ? "(empty)\n" : text;
}

Result<std::vector<std::pair<std::string, toml::table>>> deviceProfileTables(const std::string& topologyPath) {
  toml::table root;
  try {
    root = toml::parse_file(topologyPath);
  } catch (const toml::parse_error& e) {
    return Error{fmt::format("{}: {}", topologyPath, e.description())};
  }
  const toml::array* devices = root["device"].as_array();
  if (devices == nullptr) return Error{fmt::format("{}: no [[device]] tables", topologyPath)};
  std::vector<std::pair<std::string, toml::table>> tables;
  for (const toml::node& node : *devices) {
    const toml::table* device = node.as_table();
    if (device == nullptr || !(*device)["name"].is_string())
      return Error{fmt::format("{}: a [[device]] without a name", topologyPath)};
    toml::table profile;
    for (std::string_view key : config::DEVICE_PROFILE_KEYS) {
      const toml::node* value = device->get(key);
      if (value == nullptr) continue;
      profile.insert(key, *value);
      if (toml::table* inner = profile.get(key)->as_table()) inner->is_inline(true);  // `macs = { ... }`
    }
    tables.emplace_back(*(*device)["name"].value<std::string>(), std::move(profile));
  }
  return tables;
}

std::string agentConfigToml(const std::string& name, const std::string& controlEndpoint, const toml::table& profile,
                            bool paceCompute) {
  toml::table top;
  top.insert("name", name);
  if (paceCompute) top.insert("pace_compute", true);
  top.insert("daemon", controlEndpoint);
  top.insert("daemon_key", "../keys/daemon.pub");
  top.insert("keys", "../keys");
  top.insert("data", LOCAL_ENDPOINT);
  std::ostringstream text;
  text << "# Written by `cleavectl up`; rewritten on every run. Paths are relative to this file.\n";
  text << top << "\n\n";
  text << "# The topology's [[device]] figures, so the plan does not depend on a measurement.\n";
  text << "[device]\n" << profile << "\n";
  return text.str();
}

std::string shapeTables(const config::Topology& topology, const std::string& name, double traceStartUnixSeconds) {
  std::string text;
  for (size_t i = 0; i < topology.fleet.links.size(); ++i) {
    const planner::Link& link = topology.fleet.links[i];
    const std::string& a = topology.fleet.devices[link.a].name;
    const std::string& b = topology.fleet.devices[link.b].name;
    if (name != a && name != b) continue;
    const std::string& peer = name == a ? b : a;
    const double rate = name == a ? link.bytesPerSecond : link.reverseBytesPerSecond;
    const std::string& trace = i < topology.linkTraces.size() ? topology.linkTraces[i] : std::string();
    if (text.empty())
      text = "\n# Outgoing links shaped as the topology declares them (`up --no-shape` leaves them raw).\n";
    if (!trace.empty())
      text += fmt::format("[[shape]]\npeer = \"{}\"\ntrace = \"{}\"\ntrace_start = {:.6f}\n", peer, trace,
                          traceStartUnixSeconds);
    else
      text += fmt::format("[[shape]]\npeer = \"{}\"\nbandwidth = \"{:.6g}B/s\"\nrtt = \"{:.6g}ms\"\n", peer, rate,
                          link.rttSeconds * 1e3);
  }
  return text;
}

Result<FleetBinaries> findFleetBinaries(const std::string& binDir) {
  std::vector<fs::path> folders;
  if (!binDir.empty()) {
    folders = {fs::path(binDir), fs::path(binDir) / "daemon", fs::path(binDir) / "agent"};
  } else {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (ec) return Error{fmt::format("cannot find this executable: {}; pass --bin-dir", ec.message())};
    fs::path build = self.parent_path().parent_path();
    folders = {build / "daemon", build / "agent"};
  }
  auto find = [&](const char* name) -> std::optional<std::string> {
    for (const fs::path& folder : folders)
      if (::access((folder / name).c_str(), X_OK) == 0) return (folder / name).string();
    return std::nullopt;
  };
  FleetBinaries binaries;
  for (auto [name, slot] : {std::pair{"cleaved", &binaries.daemon}, std::pair{"cleave-agent", &binaries.agent}}) {
    std::optional<std::string> path = find(name);
    if (!path) {
      std::vector<std::string> looked;
      for (const fs::path& folder : folders) looked.push_back((folder / name).string());
      return Error{
          fmt::format("{} not found (looked at {}); build it, or pass --bin-dir", name, fmt::join(looked, ", "))};
    }
    *slot = *path;
  }
  return binaries;
}

void addFleetCommands(CLI::App& app, int& exitCode) {
  auto upOptions = std::make_shared<UpOptions>();
  CLI::App* upCmd = app.add_subcommand("up", "Start the daemon and every agent of a topology as local processes");
  upCmd->add_option("config", upOptions->config, "Topology file (TOML)")->required();
  upCmd->add_option("--state", upOptions->state, "State folder (default: .cleave/<fleet name>)");
  upCmd->add_option("--model", upOptions->model, "Run this bundle or .onnx instead of [model] bundle");
  upCmd->add_flag("--no-shape", upOptions->noShape,
                  "Leave the agents' links unshaped (default: shaped to the topology's bandwidth, RTT or trace)");
  upCmd->add_flag("--pace", upOptions->pace,
                  "Pace each stage run to the declared device's predicted time (a fast machine stands in for slow boards)");
  upCmd->add_option("--bin-dir", upOptions->binDir,
                    "Folder holding cleaved and cleave-agent (default: the build tree)");
  upCmd->callback([upOptions, &app, &exitCode] { exitCode = up(*upOptions, globalState(app)); });

  auto downOptions = std::make_shared<DownOptions>();
  CLI::App* downCmd = app.add_subcommand("down", "Stop a fleet started by `cleavectl up`");
  downCmd->add_option("--state", downOptions->state, "State folder (default: the only one under .cleave)");
  downCmd->callback([downOptions, &app, &exitCode] { exitCode = down(*downOptions, globalState(app)); });
}

}  // namespace cleave::cli

#include "tools/soak/local_fleet.h"

#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>


extern char** environ;

namespace cleave::soak {
namespace {

namespace fs = std::filesystem;

constexpr double DOWN_GRACE_SECONDS = 5.0;  // as `cleavectl down`

// Runs a program with our stdout and stderr, waits for it; its exit status, or -1.
int runToCompletion(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, args[0], nullptr, nullptr, args.data(), environ) != 0) return -1;
  int status = 0;
  // Our signal handlers do not restart calls; `up` gets the same Ctrl-C and ends on its own, so
  // keep waiting for it rather than leave it half-way.
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string fileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

Result<std::unique_ptr<LocalFleet>> LocalFleet::up(const FleetPrograms& programs, const std::string& topology,
                                                   const std::string& model, const std::string& state, bool pace) {
  std::vector<std::string> argv = {programs.cleavectl, "up", topology, "--state", state, "--model", model};
  if (pace) argv.push_back("--pace");
  const int status = runToCompletion(argv);
  cli::StatePaths paths = cli::statePaths(state);
  // Even a failed `up` may have left processes if it was itself killed: take over what it recorded.
  Result<std::vector<cli::ProcessRecord>> records = cli::parsePidsFile(fileText(paths.pids), paths.pids);
  auto fleet = std::unique_ptr<LocalFleet>(
      new LocalFleet(programs, paths, records ? std::move(*records) : std::vector<cli::ProcessRecord>{}));
  if (status != 0) return Error{fmt::format("cleavectl up failed (exit status {}); logs in {}", status, paths.logs)};
  if (!records) return records.error();
  if (fleet->records_.empty() || fleet->records_.front().name != "daemon")
    return Error{fmt::format("{}: expected the daemon first", paths.pids)};
  return fleet;
}

LocalFleet::~LocalFleet() { down(); }

void LocalFleet::down() {
  if (down_) return;
  down_ = true;
  cli::stopProcesses(records_, DOWN_GRACE_SECONDS, true);
  reapChildren();
  std::error_code ec;
  fs::remove(paths_.pids, ec);
  fs::remove(paths_.endpoints, ec);
}

cli::ProcessRecord* LocalFleet::find(const std::string& name) {
  for (cli::ProcessRecord& r : records_)
    if (r.name == name) return &r;
  return nullptr;
}

Status LocalFleet::writePids() const {
  return cli::writeFileAtomically(paths_.pids, cli::formatPidsFile(records_));
}

void LocalFleet::reapChildren() {
  for (auto it = children_.begin(); it != children_.end();) {
    int status = 0;
    if (::waitpid(*it, &status, WNOHANG) == *it) it = children_.erase(it);
    else ++it;
  }
}

Status LocalFleet::kill(const std::string& device) {
  cli::ProcessRecord* record = find(device);
  if (!record || record->name == "daemon") return Error{fmt::format("'{}' is not an agent of this fleet", device)};
  if (!alive(device)) return Error{fmt::format("{} (pid {}) is not running", device, record->pid)};
  if (::kill(record->pid, SIGKILL) != 0) return Error{fmt::format("kill {}: {}", record->pid, std::strerror(errno))};
  return {};
}

Status LocalFleet::restart(const std::string& device) {
  cli::ProcessRecord* record = find(device);
  if (!record || record->name == "daemon") return Error{fmt::format("'{}' is not an agent of this fleet", device)};
  if (alive(device)) return Error{fmt::format("{} (pid {}) has not gone yet", device, record->pid)};
  const std::string config = (fs::path(paths_.agents) / (device + ".toml")).string();
  const std::string log = (fs::path(paths_.logs) / (device + ".log")).string();
  // The command line `cleavectl up` starts agents with.
  Result<pid_t> pid = cli::spawnDetached({programs_.agent, "--config", config, "--log", log}, log);
  if (!pid) return pid.error();
  children_.insert(*pid);
  *record = {device, *pid, cli::processStartTicks(*pid).value_or(0)};
  return writePids();
}

bool LocalFleet::alive(const std::string& name) {
  reapChildren();  // a killed child stays a zombie (which processAlive counts as gone) until reaped
  cli::ProcessRecord* record = find(name);
  return record && cli::processAlive(*record);
}

std::optional<uint64_t> LocalFleet::rssKiB(const std::string& name) {
  if (!alive(name)) return std::nullopt;
  std::ifstream in(fmt::format("/proc/{}/status", find(name)->pid));
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream fields(line.substr(6));
      uint64_t kib = 0;
      if (fields >> kib) return kib;
    }
  return std::nullopt;
}

std::vector<std::string> LocalFleet::names() const {
  std::vector<std::string> out;
  for (const cli::ProcessRecord& r : records_) out.push_back(r.name);
  return out;
}

Result<cli::OperatorTarget> LocalFleet::operatorTarget() const {
  cli::ConnectionOptions connection;
  connection.state = paths_.dir;
  return cli::resolveTarget(connection);
}

void LocalFleet::noteInLog(const std::string& name, const std::string& line) const {
  std::ofstream(fs::path(paths_.logs) / (name + ".log"), std::ios::app) << "# cleave-soak: " << line << "\n";
}

}  // namespace cleave::soak

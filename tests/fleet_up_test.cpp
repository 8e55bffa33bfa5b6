// `cleavectl up`/`down` helpers: the pids file, starting detached processes and stopping them
// (never a process that merely inherited a recorded pid), and the agent files `up` writes,
// read back by the agent's own config parser against the topology's figures.
#include "tools/cleavectl/fleet_up.h"

#include <doctest/doctest.h>

#include "tests/temp_dir.h"
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "config/agent_config.h"
#include "config/topology.h"

namespace cleave::cli {
namespace {

namespace fs = std::filesystem;

// Each test's own folder.
struct TempDir : cleave::testing::TempDir {
  TempDir() : cleave::testing::TempDir("cleavectl-up") {}
};

// Polls `done` every 20 ms for at most 10 s (reached only when the test fails).
bool eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    ::poll(nullptr, 0, 20);
  }
  return true;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TEST_CASE("the pids file round-trips and refuses lines that are not NAME PID START") {
  std::vector<ProcessRecord> records = {{"daemon", 4242, 123456}, {"pi-1", 4243, 123460}};
  std::string text = formatPidsFile(records);
  CHECK(text.find("daemon 4242 123456\npi-1 4243 123460\n") != std::string::npos);
  CHECK(parsePidsFile(text, "pids").value() == records);
  CHECK(parsePidsFile("daemon 4242\n", "pids").error().message ==
        "pids:1: expected 'NAME PID START', found 'daemon 4242'");
  CHECK(parsePidsFile("# c\ndaemon 1 5\n", "pids").error().message.find("pids:2:") == 0);  // pid 1 is never ours
  CHECK(parsePidsFile("a 10 5 extra\n", "pids").error().message.find("pids:1:") == 0);
  CHECK(parsePidsFile("", "pids").value().empty());
}

TEST_CASE("a detached process runs in its own session, logs to its file and stops on SIGTERM") {
  TempDir dir;
  Result<pid_t> pid = spawnDetached({"/bin/sh", "-c", "echo started; exec sleep 30"}, dir / "log");
  REQUIRE_MESSAGE(pid.ok(), pid.error().message);
  std::optional<uint64_t> start = processStartTicks(*pid);
  REQUIRE(start.has_value());
  ProcessRecord record{"sleeper", *pid, *start};
  CHECK(processAlive(record));
  CHECK(::getsid(*pid) == *pid);  // a session leader: Ctrl-C on our terminal does not reach it
  CHECK(eventually([&] { return slurp(dir / "log") == "started\n"; }));

  std::vector<StopOutcome> outcomes = stopProcesses({record}, 5.0, true);
  CHECK(outcomes == std::vector<StopOutcome>{StopOutcome::Stopped});
  CHECK_FALSE(processAlive(record));
  CHECK(stopProcesses({record}, 5.0, true) == std::vector<StopOutcome>{StopOutcome::NotRunning});
}

TEST_CASE("a process that ignores SIGTERM is killed after the grace period") {
  TempDir dir;
  // The trap is set before "ready" is written, so SIGTERM after that is ignored for sure.
  Result<pid_t> pid = spawnDetached({"/bin/sh", "-c", "trap '' TERM; echo ready; exec sleep 30"}, dir / "log");
  REQUIRE(pid.ok());
  ProcessRecord record{"stubborn", *pid, processStartTicks(*pid).value()};
  REQUIRE(eventually([&] { return slurp(dir / "log") == "ready\n"; }));
  std::vector<StopOutcome> outcomes = stopProcesses({record}, 0.2, true);
  CHECK(outcomes == std::vector<StopOutcome>{StopOutcome::Killed});
  CHECK_FALSE(processAlive(record));
}

TEST_CASE("a recorded pid now held by another process is left alone") {
  // Our own pid with another start time: what a stale pids file looks like after pid reuse.
  ProcessRecord impostor{"daemon", ::getpid(), processStartTicks(::getpid()).value() + 1};
  CHECK_FALSE(processAlive(impostor));
  CHECK(stopProcesses({impostor}, 0.1, false) == std::vector<StopOutcome>{StopOutcome::NotRunning});
  CHECK(processAlive({"self", ::getpid(), processStartTicks(::getpid()).value()}));  // and we are still here
}

TEST_CASE("starting a missing program is an error, and log tails keep the last lines") {
  TempDir dir;
  Result<pid_t> pid = spawnDetached({(dir / "no-such-program")}, dir / "log");
  REQUIRE_FALSE(pid.ok());
  CHECK(pid.error().message.find("cannot start") == 0);
  std::ofstream(dir / "many") << "1\n2\n3\n4\n";
  CHECK(tailOfFile(dir / "many", 2) == "3\n4\n");
  CHECK(tailOfFile(dir / "missing", 2) == "(empty)\n");
}

TEST_CASE("the binaries: --bin-dir holding them or a build tree's daemon/ and agent/") {
  TempDir dir;
  CHECK(findFleetBinaries(dir.path.string()).error().message.find("cleaved not found") == 0);
  fs::create_directories(dir.path / "daemon");
  fs::create_directories(dir.path / "agent");
  for (const char* file : {"daemon/cleaved", "agent/cleave-agent"}) {
    std::ofstream(dir / file) << "#!/bin/sh\n";
    fs::permissions(dir / file, fs::perms::owner_all);
  }
  FleetBinaries found = findFleetBinaries(dir.path.string()).value();
  CHECK(found.daemon == dir / "daemon/cleaved");
  CHECK(found.agent == dir / "agent/cleave-agent");
}

TEST_CASE("agent files from a topology parse with the agent's parser and declare the topology's figures") {
  std::string topologyPath;
  for (const char* file : {"home-lab.toml", "clio-ble.toml", "meanet-edge-cloud.toml", "nonn-8pi.toml"}) SUBCASE(file) {
      topologyPath = std::string(CLEAVE_SOURCE_DIR) + "/configs/" + file;
    }
  Result<config::Topology> topology = config::loadTopology(topologyPath);
  REQUIRE_MESSAGE(topology.ok(), topology.error().message);
  Result<std::vector<std::pair<std::string, toml::table>>> tables = deviceProfileTables(topologyPath);
  REQUIRE_MESSAGE(tables.ok(), tables.error().message);
  REQUIRE(tables->size() == topology->fleet.devices.size());

  TempDir state;
  fs::create_directories(state.path / "agents");
  for (size_t i = 0; i < tables->size(); ++i) {
    const auto& [name, profile] = (*tables)[i];
    const planner::DeviceProfile& expected = topology->fleet.devices[i];
    CHECK(name == expected.name);
    CHECK_FALSE(profile.contains("name"));
    std::string text = agentConfigToml(name, "tcp://127.0.0.1:5555", profile);
    std::string path = state / ("agents/" + name + ".toml");
    std::ofstream(path) << text;
    Result<config::AgentConfig> agent = config::loadAgentConfig(path);
    REQUIRE_MESSAGE(agent.ok(), (agent.ok() ? text : agent.error().message + "\n" + text));
    CHECK(agent->name == name);
    CHECK(agent->daemonEndpoint == "tcp://127.0.0.1:5555");
    CHECK(fs::path(agent->daemonKeyFile).lexically_normal() == (state.path / "keys/daemon.pub").lexically_normal());
    CHECK(fs::path(agent->keysDir).lexically_normal() == (state.path / "keys").lexically_normal());
    CHECK(agent->dataEndpoint == "tcp://127.0.0.1:*");
    REQUIRE(agent->device.has_value());
    const planner::DeviceProfile& declared = *agent->device;
    CHECK(declared.kind == expected.kind);
    CHECK(declared.macsPerSecond == expected.macsPerSecond);
    CHECK(declared.nodeOverheadSeconds == expected.nodeOverheadSeconds);
    CHECK(declared.ramBytes == expected.ramBytes);
    CHECK(declared.flashBytes == expected.flashBytes);
    CHECK(declared.joulesPerMac == expected.joulesPerMac);
    CHECK(declared.radioJoulesPerByte == expected.radioJoulesPerByte);
  }
}

}  // namespace
}  // namespace cleave::cli

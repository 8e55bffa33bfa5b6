// agent.toml: a valid file's values (defaults, paths resolved against the file, the declared
// profile in SI units), and each kind of mistake reported at its exact file:line:column, every
// mistake of a file in one run.
#include "config/agent_config.h"
#include "tests/temp_dir.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <fstream>

#include <string>
#include <vector>

namespace cleave::config {
namespace {

const std::string FILE_PATH = "/etc/cleave/pi1/agent.toml";

// Line numbers matter: the tests below point into this text.
const std::string BASE = R"(name = "pi1"
daemon = "tcp://127.0.0.1:7700"
daemon_key = "keys/daemon.pub"
threads = 2

[device]
kind = "pi"
macs = "3G"
ram = "3GiB"
)";

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, from);
  return text.replace(at, from.size(), to);
}

std::string errorsFor(const std::string& text) {
  Result<AgentConfig> config = parseAgentConfig(text, FILE_PATH);
  REQUIRE_FALSE(config.ok());
  return config.error().message;
}

#define CHECK_ERROR(errors, expected)                                        \
  do {                                                                       \
    INFO(errors);                                                            \
    CHECK((errors).find(FILE_PATH + ":" + (expected)) != std::string::npos); \
  } while (0)

}  // namespace

TEST_CASE("a valid agent file: declared profile in SI units, defaults, paths relative to the file") {
  Result<AgentConfig> config = parseAgentConfig(BASE, FILE_PATH);
  REQUIRE_MESSAGE(config.ok(), config.error().message);
  CHECK(config->name == "pi1");
  CHECK(config->daemonEndpoint == "tcp://127.0.0.1:7700");
  CHECK(config->daemonKeyFile == "/etc/cleave/pi1/keys/daemon.pub");
  CHECK(config->keysDir == "/etc/cleave/pi1/keys");
  CHECK(config->dataEndpoint == "tcp://127.0.0.1:*");
  CHECK(config->advertise.empty());
  CHECK(config->threads == 2);
  CHECK(config->measureSeconds == doctest::Approx(1.0));
  REQUIRE(config->device.has_value());
  CHECK(config->device->name == "pi1");
  CHECK(config->device->kind == "pi");
  CHECK(config->device->rate(planner::OpClass::Conv) == doctest::Approx(3e9));
  CHECK(config->device->rate(planner::OpClass::Other) == doctest::Approx(3e9));
  CHECK(config->device->ramBytes == int64_t{3} << 30);
}

TEST_CASE("without [device] the profile is measured; every optional key can be set") {
  std::string text = R"(name = "cloud-1"
daemon = "tcp://10.0.0.1:7700"
daemon_key = "/keys/daemon.pub"
keys = "../secrets"
data = "tcp://0.0.0.0:5601"
advertise = "tcp://10.0.0.7:5601"
measure_seconds = "250ms"
)";
  Result<AgentConfig> config = parseAgentConfig(text, FILE_PATH);
  REQUIRE_MESSAGE(config.ok(), config.error().message);
  CHECK_FALSE(config->device.has_value());
  CHECK(config->daemonKeyFile == "/keys/daemon.pub");
  CHECK(config->keysDir == "/etc/cleave/secrets");
  CHECK(config->dataEndpoint == "tcp://0.0.0.0:5601");
  CHECK(config->advertise == "tcp://10.0.0.7:5601");
  CHECK(config->measureSeconds == doctest::Approx(0.25));
  CHECK(config->threads == 1);
}

TEST_CASE("every mistake of a file is reported at its line and column, in one run") {
  // Seven distinct mistakes in one file.
  std::string text = R"(name = "pi 1"
daemon = "localhost:7700"
threads = 0
advertise = "tcp://*:5601"
measure_seconds = true
colour = "blue"

[device]
kind = "pi"
macs = "3 parsecs"
ram = "3GiB"
speed = 2
)";
  std::string errors = errorsFor(text);
  CHECK_ERROR(errors, "1:1: error: agent: 'name' \"pi 1\" must be 1 to 64 letters");
  CHECK_ERROR(errors, "2:1: error: agent: 'daemon' must be a ZeroMQ endpoint");
  CHECK_ERROR(errors, "3:1: error: agent: 'threads' must be between 1 and 256, not 0");
  CHECK_ERROR(errors, "4:1: error: agent: 'advertise' must be an endpoint peers can connect to");
  CHECK_ERROR(errors, "5:1: error: agent: 'measure_seconds' must be a string with units or a number, not a boolean");
  CHECK_ERROR(errors, "6:1: error: agent: unknown key 'colour'");
  CHECK_ERROR(errors, "10:1: error: [device]: 'macs'");
  CHECK_ERROR(errors, "12:1: error: [device]: unknown key 'speed'");
  // daemon_key is required and absent: reported against the top-level table.
  CHECK(errors.find("missing required key 'daemon_key'") != std::string::npos);
}

TEST_CASE("required keys, types and [device] requirements") {
  std::string errors = errorsFor(replaced(replaced(BASE, "name = \"pi1\"\n", ""), "ram = \"3GiB\"\n", ""));
  CHECK(errors.find("missing required key 'name'") != std::string::npos);
  CHECK(errors.find("[device]: missing required key 'ram'") != std::string::npos);

  CHECK_ERROR(errorsFor(replaced(BASE, "threads = 2", "threads = \"two\"")),
              "4:1: error: agent: 'threads' must be an integer, not a string");
  CHECK_ERROR(errorsFor(replaced(BASE, "[device]", "device = 3")), "6:1: error: agent: 'device' must be a table");
  CHECK_ERROR(errorsFor(replaced(BASE, "threads = 2", "measure_seconds = -1")),
              "4:1: error: agent: 'measure_seconds' must not be negative");
  CHECK_ERROR(errorsFor(replaced(BASE, "threads = 2", "data = \"udp://x\"")),
              "4:1: error: agent: 'data' must be a ZeroMQ endpoint");
  CHECK_ERROR(errorsFor(replaced(BASE, "ram = \"3GiB\"", "ram = \"0B\"")),
              "9:1: error: [device]: 'ram' must be more than 0 bytes");
}

TEST_CASE("a client socket: its endpoint and key files, paths relative to the file") {
  Result<AgentConfig> plain = parseAgentConfig(BASE, FILE_PATH);
  REQUIRE(plain.ok());
  CHECK(plain->clientEndpoint.empty());
  CHECK(plain->clientKeyFiles.empty());

  Result<AgentConfig> config = parseAgentConfig(
      replaced(BASE, "threads = 2\n",
               "threads = 2\nclient = \"tcp://127.0.0.1:*\"\nclient_keys = [\"keys/app.pub\", \"/srv/cam.pub\"]\n"),
      FILE_PATH);
  REQUIRE_MESSAGE(config.ok(), config.error().message);
  CHECK(config->clientEndpoint == "tcp://127.0.0.1:*");
  CHECK(config->clientKeyFiles == std::vector<std::string>{"/etc/cleave/pi1/keys/app.pub", "/srv/cam.pub"});
}

TEST_CASE("client socket mistakes are reported at their line and column") {
  // A client socket without keys would admit nobody: refused rather than silently useless.
  CHECK_ERROR(errorsFor(replaced(BASE, "threads = 2", "client = \"tcp://127.0.0.1:7720\"")),
              "4:1: error: agent: 'client' needs 'client_keys'");
  CHECK_ERROR(errorsFor(replaced(BASE, "threads = 2", "client_keys = [\"a.pub\"]")),
              "4:1: error: agent: 'client_keys' has no socket to admit clients to");
  CHECK_ERROR(errorsFor(replaced(BASE, "threads = 2", "client = \"127.0.0.1:7720\"\nclient_keys = [\"a.pub\"]")),
              "4:1: error: agent: 'client' must be a ZeroMQ endpoint");

  const std::string withClient = replaced(BASE, "threads = 2", "client = \"tcp://127.0.0.1:*\"\nclient_keys = KEYS");
  auto keys = [&](const std::string& value) { return errorsFor(replaced(withClient, "KEYS", value)); };
  CHECK_ERROR(keys("\"a.pub\""), "5:1: error: agent: 'client_keys' must be an array of public key files");
  CHECK_ERROR(keys("[]"), "5:1: error: agent: 'client_keys' must name at least one public key file");
  CHECK_ERROR(keys("[\"a.pub\", 7]"), "5:25: error: agent: 'client_keys' entries must be file names, not an integer");
  CHECK_ERROR(keys("[\"\"]"), "5:16: error: agent: 'client_keys' entries must be file names, not an empty string");
  CHECK_ERROR(keys("[\"a.pub\", \"./a.pub\"]"), "5:25: error: agent: 'client_keys' lists \"./a.pub\" twice");

  // Every mistake of one file at once.
  std::string errors = keys("[7, \"\"]");
  CHECK_ERROR(errors, "5:16: error: agent: 'client_keys' entries must be file names, not an integer");
  CHECK_ERROR(errors, "5:19: error: agent: 'client_keys' entries must be file names, not an empty string");
}

TEST_CASE("a TOML syntax error names its position; a missing file names the file") {
  CHECK_ERROR(errorsFor(replaced(BASE, "threads = 2", "threads = = 2")), "4:");
  Result<AgentConfig> missing = loadAgentConfig("/nonexistent/agent.toml");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message == "/nonexistent/agent.toml: cannot open file");
}

TEST_CASE("[[shape]]: a constant link or a trace file, and pace_compute") {
  cleave::testing::TempDir dir("agent-config");
  const std::string trace = dir / "steps.csv";
  std::ofstream(trace) << "time_s,bandwidth_bps,rtt_ms\n0,8000000,10\n2,800000,40\n";
  std::string text = replaced(BASE, "threads = 2", "threads = 2\npace_compute = true") +
                     fmt::format("\n[[shape]]\npeer = \"pi1\"\nbandwidth = \"16Mbps\"\nrtt = \"5ms\"\n"
                                 "\n[[shape]]\npeer = \"cloud\"\ntrace = \"{}\"\ntrace_start = 1700000000.5\n",
                                 trace);
  Result<AgentConfig> config = parseAgentConfig(text, FILE_PATH);
  REQUIRE_MESSAGE(config.ok(), config.error().message);
  CHECK(config->paceCompute);
  REQUIRE(config->shapes.size() == 2);
  CHECK(config->shapes[0].peer == "pi1");
  CHECK(config->shapes[0].trace.bytesPerSecondAt(100.0) == doctest::Approx(2e6));
  CHECK(config->shapes[0].trace.rttSecondsAt(0.0) == doctest::Approx(0.005));
  CHECK(config->shapes[1].tracePath == trace);
  CHECK(config->shapes[1].trace.bytesPerSecondAt(2.5) == doctest::Approx(1e5));
  CHECK(*config->shapes[1].traceStartUnixSeconds == 1700000000.5);

  auto shape = [&](const std::string& body) { return errorsFor(BASE + "\n[[shape]]\n" + body); };
  CHECK_ERROR(shape("bandwidth = \"1Mbps\""), "11:1: error: [[shape]] #1: missing required key 'peer'");
  CHECK_ERROR(shape("peer = \"b\""), "12:1: error: [[shape]] #1: 'peer' needs 'bandwidth'");
  CHECK_ERROR(shape("peer = \"b\"\nbandwidth = \"1Mbps\"\ntrace = \"x.csv\""),
              "14:1: error: [[shape]] #1: 'trace' replaces 'bandwidth' and 'rtt'");
  std::string missing = shape("peer = \"b\"\ntrace = \"nope.csv\"");
  CHECK(missing.find("nope.csv") != std::string::npos);
  std::ofstream(trace) << "0,1000,1\n0,2000,1\n";  // times must increase: the trace's own error
  CHECK(shape(fmt::format("peer = \"b\"\ntrace = \"{}\"", trace)).find("steps.csv:2: time_s") != std::string::npos);
}

}  // namespace cleave::config

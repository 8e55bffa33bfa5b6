// Topology files: a valid file's figures, and each kind of mistake reported at its exact
// file:line:column, all mistakes of a file in one run.
#include "config/topology.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <doctest/doctest.h>

#include "config/fleet_config.h"

namespace cleave::config {
namespace {

const std::string FILE_PATH = std::string(CLEAVE_SOURCE_DIR) + "/configs/test.toml";

// Line numbers matter: the tests below point into this text.
const std::string BASE = R"([fleet]
name = "t"
daemon = "tcp://127.0.0.1:7700"

[[device]]
name = "a"
kind = "pi"
macs = "1G"
ram = "1GiB"

[[device]]
name = "b"
kind = "cloud"
macs = { default = "10G", gemm = "20G" }
ram = "16GiB"

[[link]]
from = "a"
to = "b"
bandwidth = "20Mbps"
rtt = "10ms"

[model]
bundle = "../models/fmnist-small"
source = "a"
sink = "b"
)";

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, from);
  return text.replace(at, from.size(), to);
}

// The error text for a topology, which must fail.
std::string errorsFor(const std::string& text) {
  Result<Topology> topology = parseTopology(text, FILE_PATH);
  REQUIRE_FALSE(topology.ok());
  return topology.error().message;
}

#define CHECK_ERROR(text, expected)                                 \
  do {                                                              \
    std::string errors_ = errorsFor(text);                          \
    INFO(errors_);                                                  \
    CHECK(errors_.find(FILE_PATH + ":" + (expected)) != std::string::npos); \
  } while (0)

}  // namespace

TEST_CASE("a valid topology gives the planner SI figures") {
  Result<Topology> t = parseTopology(BASE, FILE_PATH);
  REQUIRE_MESSAGE(t.ok(), t.error().message);
  REQUIRE(t->fleet.devices.size() == 2);
  const planner::DeviceProfile& b = t->fleet.devices[1];
  CHECK(b.rate(planner::OpClass::Conv) == doctest::Approx(10e9));
  CHECK(b.rate(planner::OpClass::Gemm) == doctest::Approx(20e9));
  CHECK(b.ramBytes == int64_t{16} << 30);
  CHECK_FALSE(b.flashBytes.has_value());
  CHECK(b.nodeOverheadSeconds == doctest::Approx(10e-6));
  REQUIRE(t->fleet.links.size() == 1);
  CHECK(t->fleet.links[0].bytesPerSecond == doctest::Approx(2.5e6));
  CHECK(t->fleet.links[0].reverseBytesPerSecond == doctest::Approx(2.5e6));
  CHECK(t->fleet.links[0].rttSeconds == doctest::Approx(0.01));
  CHECK(t->model.strategy == planner::Strategy::Auto);
  CHECK(t->model.objective.latencyWeight == 1);
  CHECK(t->model.bundle == std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-small");
  CHECK(t->planner.hysteresis == doctest::Approx(0.1));
  CHECK(t->keysDir == std::string(CLEAVE_SOURCE_DIR) + "/configs/keys");
  CHECK(t->stallSeconds == 30);
  Result<Topology> stall = parseTopology(replaced(BASE, "name = \"t\"", "name = \"t\"\nstall_timeout = \"90s\""), FILE_PATH);
  REQUIRE_MESSAGE(stall.ok(), stall.error().message);
  CHECK(stall->stallSeconds == doctest::Approx(90));
}

TEST_CASE("precisions: int8-only and float32-only devices, and what else is an error") {
  Result<Topology> int8Only =
      parseTopology(replaced(BASE, "ram = \"1GiB\"", "ram = \"1GiB\"\nprecisions = [\"int8\"]"), FILE_PATH);
  REQUIRE_MESSAGE(int8Only.ok(), int8Only.error().message);
  CHECK_FALSE(int8Only->fleet.devices[0].runsFloat32);
  CHECK(int8Only->fleet.devices[0].runsInt8);
  CHECK(int8Only->fleet.devices[1].runsFloat32);  // undeclared: both
  CHECK(int8Only->fleet.devices[1].runsInt8);
  CHECK_ERROR(replaced(BASE, "ram = \"1GiB\"", "ram = \"1GiB\"\nprecisions = [\"int8\", \"int4\"]"),
              "10:23: error: [[device]] 'a' precisions: \"int4\" is not \"float32\" or \"int8\"");
  CHECK_ERROR(replaced(BASE, "ram = \"1GiB\"", "ram = \"1GiB\"\nprecisions = []"),
              "10:1: error: [[device]] 'a': 'precisions' must be a non-empty list");
}

TEST_CASE("each mistake is reported at its file:line:column") {
  SUBCASE("unknown key") {
    CHECK_ERROR(replaced(BASE, "ram = \"1GiB\"", "ram = \"1GiB\"\nrom = \"1MiB\""),
                "10:1: error: [[device]] 'a': unknown key 'rom'");
  }
  SUBCASE("wrong type") {
    CHECK_ERROR(replaced(BASE, "ram = \"1GiB\"", "ram = true"), "9:1: error: [[device]] 'a': 'ram' must be a string with units or a number, not a boolean");
  }
  SUBCASE("link to a device that does not exist") {
    CHECK_ERROR(replaced(BASE, "to = \"b\"", "to = \"c\""), "19:1: error: [[link]] a -> c: 'to' names \"c\", which is not a declared device");
  }
  SUBCASE("unreadable unit") {
    CHECK_ERROR(replaced(BASE, "\"20Mbps\"", "\"20MBps\""),
                "20:1: error: [[link]] a -> b: 'bandwidth' '20MBps' has unit 'MBps', which is not a bandwidth unit");
  }
  SUBCASE("bandwidth without a unit") {
    CHECK_ERROR(replaced(BASE, "\"20Mbps\"", "20"), "20:1: error: [[link]] a -> b: 'bandwidth' must be a string with units, not an integer");
  }
  SUBCASE("no path from source to sink") {
    CHECK_ERROR(replaced(BASE, "[[link]]\nfrom = \"a\"\nto = \"b\"\nbandwidth = \"20Mbps\"\nrtt = \"10ms\"\n", ""),
                "21:1: error: [model]: 'sink' \"b\" cannot be reached from the source \"a\" over the declared links");
  }
  SUBCASE("missing required key") {
    CHECK_ERROR(replaced(BASE, "ram = \"16GiB\"\n", ""), "11:1: error: [[device]] 'b': missing required key 'ram'");
  }
  SUBCASE("device declared twice") {
    CHECK_ERROR(replaced(BASE, "name = \"b\"", "name = \"a\""), "12:1: error: [[device]] 'a': 'name' \"a\" is declared twice");
  }
  SUBCASE("unknown table") {
    CHECK_ERROR(BASE + "\n[planer]\nhold = \"1s\"\n", "28:2: error: top level: unknown key 'planer'");
  }
  SUBCASE("unknown strategy") {
    CHECK_ERROR(BASE + "strategy = \"magic\"\n", "27:1: error: [model]: 'strategy' is \"magic\"; expected split, clio");
  }
  SUBCASE("TOML syntax") {
    CHECK_ERROR(replaced(BASE, "kind = \"pi\"", "kind = \"pi"), "7:");
  }
  SUBCASE("weights without the weighted objective") {
    CHECK_ERROR(BASE + "weights = { latency = 1.0 }\n", "27:1: error: [model]: 'weights' only applies with objective = \"weighted\"");
  }
  SUBCASE("weighted objective without weights") {
    CHECK_ERROR(BASE + "objective = \"weighted\"\n", "23:1: error: [model]: missing required key 'weights'");
  }
  SUBCASE("accuracy floor out of range") {
    CHECK_ERROR(BASE + "accuracy_floor = 1.5\n", "27:1: error: [model]: 'accuracy_floor' must be a fraction between 0 and 1");
  }
  SUBCASE("accuracy drop out of range") {
    CHECK_ERROR(BASE + "accuracy_drop = -0.01\n", "27:1: error: [model]: 'accuracy_drop' must be a fraction between 0 and 1");
  }
  SUBCASE("per-class MAC/s with a class missing and no default") {
    CHECK_ERROR(replaced(BASE, "default = \"10G\", ", ""), "14:8: error: [[device]] 'b' macs: 'conv' is missing and no 'default' is given");
  }
  SUBCASE("unknown op class") {
    CHECK_ERROR(replaced(BASE, "gemm = \"20G\"", "gemm = \"20G\", pool = \"1G\""), "14:41: error: [[device]] 'b' macs: unknown key 'pool'");
  }
  SUBCASE("serial without a bridge, bridge naming nobody") {
    CHECK_ERROR(replaced(BASE, "kind = \"pi\"", "kind = \"pi\"\nserial = \"/dev/ttyUSB0\""),
                "8:1: error: [[device]] 'a': 'serial' needs 'bridge'");
    CHECK_ERROR(replaced(BASE, "kind = \"pi\"", "kind = \"mcu\"\nserial = \"/dev/ttyUSB0\"\nbridge = \"gw\""),
                "9:1: error: [[device]] 'a': 'bridge' names \"gw\", which is not a declared device");
  }
  SUBCASE("bundle that does not exist") {
    CHECK_ERROR(replaced(BASE, "../models/fmnist-small", "../models/nothing"), "24:1: error: [model]: 'bundle' \"");
  }
  SUBCASE("negative figure") {
    CHECK_ERROR(replaced(BASE, "rtt = \"10ms\"", "rtt = \"-10ms\""), "21:1: error: [[link]] a -> b: 'rtt' '-10ms' is negative");
  }
  SUBCASE("a stall timeout of nothing") {
    CHECK_ERROR(replaced(BASE, "name = \"t\"", "name = \"t\"\nstall_timeout = \"0s\""),
                "3:1: error: [fleet]: 'stall_timeout' must be more than 0");
  }
  SUBCASE("link joining a device to itself") {
    CHECK_ERROR(replaced(BASE, "to = \"b\"", "to = \"a\""), "19:1: error: [[link]] a -> a: 'to' joins a device to itself");
  }
}

TEST_CASE("every mistake in a file is reported in one run") {
  std::string text = replaced(replaced(replaced(BASE, "ram = \"1GiB\"", "ram = \"lots\""), "\"20Mbps\"", "\"fast\""),
                              "sink = \"b\"", "sink = \"b\"\ncolour = \"red\"");
  std::string errors = errorsFor(text);
  INFO(errors);
  CHECK(std::count(errors.begin(), errors.end(), '\n') == 2);  // three lines
  CHECK(errors.find("test.toml:9:1: error") != std::string::npos);
  CHECK(errors.find("test.toml:20:1: error") != std::string::npos);
  CHECK(errors.find("test.toml:27:1: error: [model]: unknown key 'colour'") != std::string::npos);
}

TEST_CASE("a bundle that does not load is reported at the bundle key") {
  std::filesystem::path dir = std::filesystem::path(CLEAVE_BINARY_DIR) / "topology_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "broken.onnx") << "this is not a protobuf";
  std::string path = (dir / "fleet.toml").string();
  std::ofstream(path) << replaced(BASE, "../models/fmnist-small", "broken.onnx");
  Result<FleetConfig> config = loadFleetConfig(path);
  REQUIRE_FALSE(config.ok());
  INFO(config.error().message);
  CHECK(config.error().message.find(path + ":24:1: error: [model]: 'bundle' does not load: ") == 0);
  CHECK(config.error().message.find("broken.onnx: not a valid ONNX model") != std::string::npos);
}

TEST_CASE("accuracy_drop on a bundle without exits is an error that names both") {
  std::filesystem::path dir = std::filesystem::path(CLEAVE_BINARY_DIR) / "topology_test";
  std::filesystem::create_directories(dir);
  std::string path = (dir / "drop.toml").string();
  std::ofstream(path) << replaced(BASE, "bundle = \"../models/fmnist-small\"",
                                  "bundle = \"" + std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-small\"")
                      << "accuracy_drop = 0.01\n";
  Result<FleetConfig> config = loadFleetConfig(path);
  REQUIRE_FALSE(config.ok());
  INFO(config.error().message);
  CHECK(config.error().message.find(path + ": error: [model]: 'accuracy_drop' only applies to early_exit bundles") == 0);
  CHECK(config.error().message.find("fmnist-small") != std::string::npos);
}

TEST_CASE("a missing file is named") {
  Result<Topology> t = loadTopology("/nonexistent/fleet.toml");
  REQUIRE_FALSE(t.ok());
  CHECK(t.error().message == "/nonexistent/fleet.toml: cannot open file");
}

TEST_CASE("hostile endpoints and names are errors, not exceptions or stack overflows") {
  // fuzz/regressions/topology_toml: a port beyond int made std::stoi throw out of parseTopology.
  std::string errors = errorsFor(replaced(BASE, "tcp://127.0.0.1:7700", "tcp://127.0.0.1:77777777777777777777"));
  CHECK(errors.find("[fleet]: 'daemon' port 77777777777777777777 is not a TCP port from 1 to 65534") !=
        std::string::npos);
  std::string lastPort = errorsFor(replaced(BASE, "tcp://127.0.0.1:7700", "tcp://127.0.0.1:65535"));
  CHECK(lastPort.find("port 65535") != std::string::npos);
  // 40 KB strings overflowed std::regex's recursion; they are ordinary (bad) values now.
  const std::string longName(40000, 'a');
  Result<Topology> longEndpoint = parseTopology(replaced(BASE, "127.0.0.1:7700", longName + ":7700"), FILE_PATH);
  CHECK(longEndpoint.ok());
  CHECK(errorsFor(replaced(BASE, "name = \"a\"", "name = \"" + longName + " \"")).find("may hold only letters") !=
        std::string::npos);
}

}  // namespace cleave::config

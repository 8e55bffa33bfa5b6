#include "config/topology.h"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "config/device_table.h"
#include "config/toml_reader.h"
#include "planner/units.h"

namespace cleave::config {
namespace {

// `precisions = ["int8"]`: the arithmetic the device has kernels for ("float32", "int8"); both
// when absent. A topology key, not a profile one: it is what the operator flashed, and an agent's
// registration keeps it (daemon.cpp).
void readPrecisions(TableReader& reader, planner::DeviceProfile& device, Diagnostics& diagnostics) {
  const toml::node* node = reader.node("precisions");
  if (!node) return;
  const toml::array* list = node->as_array();
  if (!list || list->empty()) {
    reader.error("precisions", "must be a non-empty list of \"float32\" and \"int8\"");
    return;
  }
  device.runsFloat32 = device.runsInt8 = false;
  for (const toml::node& item : *list) {
    std::optional<std::string> name = item.value<std::string>();
    if (name && *name == "float32")
      device.runsFloat32 = true;
    else if (name && *name == "int8")
      device.runsInt8 = true;
    else
      diagnostics.error(item.source(), fmt::format("{} precisions: {} is not \"float32\" or \"int8\"", reader.context(),
                                                   name ? "\"" + *name + "\"" : "a non-string"));
  }
}

using planner::OpClass;

std::string resolve(const std::string& file, const std::string& relative) {
  std::filesystem::path p(relative);
  if (p.is_absolute()) return relative;
  return (std::filesystem::path(file).parent_path() / p).lexically_normal().string();
}

// "tcp://HOST:PORT" split at the last colon, when PORT is all digits.
struct TcpPort {
  std::string host;  // "tcp://HOST"
  std::string digits;
  int port = 0;  // 0 when the digits do not fit an int
};

std::optional<TcpPort> tcpPortOf(const std::string& endpoint) {
  size_t colon = endpoint.rfind(':');
  if (!endpoint.starts_with("tcp://") || colon < 6 || colon + 1 == endpoint.size()) return std::nullopt;
  TcpPort out{endpoint.substr(0, colon), endpoint.substr(colon + 1)};
  if (out.digits.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  auto [end, error] = std::from_chars(out.digits.data(), out.digits.data() + out.digits.size(), out.port);
  if (error != std::errc() || end != out.digits.data() + out.digits.size()) out.port = 0;
  return out;
}

void readFleet(const toml::table* table, Topology& topology, Diagnostics& diagnostics) {
  if (!table) return;
  TableReader reader(*table, "[fleet]", diagnostics);
  topology.name = reader.string("name", true).value_or("");
  topology.daemonEndpoint = reader.string("daemon", true).value_or("");
  if (!topology.daemonEndpoint.empty() && !isZmqEndpoint(topology.daemonEndpoint))
    reader.error("daemon", fmt::format("must be a ZeroMQ endpoint such as \"tcp://127.0.0.1:7700\", not \"{}\"",
                                       topology.daemonEndpoint));
  topology.keysDir = resolve(topology.path, reader.string("keys", false).value_or("keys"));
  // The operator API listens next to the control endpoint unless told otherwise.
  std::string derived;
  if (std::optional<TcpPort> port = tcpPortOf(topology.daemonEndpoint)) {
    if (port->port >= 1 && port->port < 65535)
      derived = fmt::format("{}:{}", port->host, port->port + 1);
    else
      reader.error("daemon", fmt::format("port {} is not a TCP port from 1 to 65534 (the operator endpoint "
                                         "takes the next one)",
                                         port->digits));
  }
  topology.operatorEndpoint = reader.string("operator_endpoint", false).value_or(derived);
  if (topology.operatorEndpoint.empty() && !topology.daemonEndpoint.empty())
    reader.error("daemon", "has no TCP port to derive the operator endpoint from: set 'operator_endpoint'");
  topology.operators = {"operator"};
  if (const toml::node* list = reader.node("operators")) {
    topology.operators.clear();
    const toml::array* names = list->as_array();
    if (!names) reader.error("operators", "must be an array of key names, e.g. [\"operator\"]");
    else
      for (const toml::node& name : *names)
        if (name.is_string() && isPlainName(*name.value<std::string>()))
          topology.operators.push_back(*name.value<std::string>());
        else
          reader.error("operators", "must hold key names made of letters, digits, '_' and '-'");
  }
  topology.heartbeatSeconds = reader.quantity("heartbeat", false, planner::parseSeconds).value_or(0.25);
  topology.heartbeatTimeoutSeconds = reader.quantity("heartbeat_timeout", false, planner::parseSeconds).value_or(1.0);
  if (topology.heartbeatSeconds <= 0 || topology.heartbeatTimeoutSeconds <= topology.heartbeatSeconds)
    reader.error("heartbeat_timeout", "must be longer than 'heartbeat', which must be more than 0");
  topology.stallSeconds = reader.quantity("stall_timeout", false, planner::parseSeconds).value_or(30.0);
  if (topology.stallSeconds <= 0) reader.error("stall_timeout", "must be more than 0");
  reader.finish({"name", "daemon", "operator_endpoint", "keys", "operators", "heartbeat", "heartbeat_timeout",
                 "stall_timeout"});
}

void readDevices(const toml::node* node, Topology& topology, Diagnostics& diagnostics) {
  const toml::array* array = node ? node->as_array() : nullptr;
  if (!array || !array->is_array_of_tables() || array->empty()) {
    if (node) diagnostics.error(node->source(), "'device' must be an array of tables: write each as [[device]]");
    else diagnostics.error("no [[device]] declared; a fleet needs at least one device");
    return;
  }
  std::set<std::string> names;
  std::vector<std::pair<size_t, toml::source_region>> bridges;  // checked once all names are known
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::table& table = *array->get(i)->as_table();
    std::optional<std::string> peek = table["name"].value<std::string>();
    TableReader reader(table, peek ? fmt::format("[[device]] '{}'", *peek) : fmt::format("[[device]] #{}", i + 1),
                       diagnostics);
    planner::DeviceProfile device;
    device.name = reader.string("name", true).value_or("");
    if (!device.name.empty()) {
      if (!isPlainName(device.name))
        reader.error("name", fmt::format("\"{}\" may hold only letters, digits, '_' and '-'", device.name));
      else if (!names.insert(device.name).second)
        reader.error("name", fmt::format("\"{}\" is declared twice", device.name));
    }
    readDeviceProfile(reader, device, diagnostics);
    readPrecisions(reader, device, diagnostics);

    std::optional<SerialAttachment> serial;
    std::optional<std::string> path = reader.string("serial", false);
    std::optional<int64_t> baud = reader.integer("baud", false);
    std::optional<std::string> bridge = reader.string("bridge", false);
    if (path) {
      serial = SerialAttachment{*path, baud.value_or(115200), bridge.value_or("")};
      if (serial->baud <= 0) reader.error("baud", "must be a positive number of symbols per second");
      if (!bridge) reader.error("serial", "needs 'bridge': the device whose serial port the MCU is attached to");
      else bridges.emplace_back(i, reader.where("bridge"));
    } else if (baud || bridge) {
      reader.error(baud ? "baud" : "bridge", "only applies with 'serial' (the MCU's serial line)");
    }
    topology.serial.push_back(serial);
    std::vector<std::string_view> accepted(DEVICE_PROFILE_KEYS.begin(), DEVICE_PROFILE_KEYS.end());
    accepted.insert(accepted.end(), {"name", "serial", "baud", "bridge", "precisions"});
    reader.finish(accepted);
    topology.fleet.devices.push_back(std::move(device));
  }
  for (auto& [device, where] : bridges) {
    const std::string& bridge = topology.serial[device]->bridge;
    if (!topology.fleet.deviceIndex(bridge))
      diagnostics.error(where, fmt::format("[[device]] '{}': 'bridge' names \"{}\", which is not a declared device",
                                           topology.fleet.devices[device].name, bridge));
    else if (bridge == topology.fleet.devices[device].name)
      diagnostics.error(where, fmt::format("[[device]] '{}': a device cannot be its own bridge", bridge));
  }
}

void readLinks(const toml::node* node, Topology& topology, Diagnostics& diagnostics) {
  if (!node) return;  // one device needs no links
  const toml::array* array = node->as_array();
  if (!array || !array->is_array_of_tables()) {
    diagnostics.error(node->source(), "'link' must be an array of tables: write each as [[link]]");
    return;
  }
  std::set<std::pair<size_t, size_t>> seen;
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::table& table = *array->get(i)->as_table();
    std::optional<std::string> peekFrom = table["from"].value<std::string>(), peekTo = table["to"].value<std::string>();
    TableReader reader(table,
                       peekFrom && peekTo ? fmt::format("[[link]] {} -> {}", *peekFrom, *peekTo)
                                          : fmt::format("[[link]] #{}", i + 1),
                       diagnostics);
    std::optional<std::string> from = reader.string("from", true), to = reader.string("to", true);
    std::optional<size_t> a, b;
    for (auto [key, name, index] : {std::tuple{"from", &from, &a}, std::tuple{"to", &to, &b}}) {
      if (!*name) continue;
      *index = topology.fleet.deviceIndex(**name);
      if (!*index) reader.error(key, fmt::format("names \"{}\", which is not a declared device", **name));
    }
    if (a && b && *a == *b) reader.error("to", "joins a device to itself");
    else if (a && b && !seen.insert(std::minmax(*a, *b)).second)
      reader.error("to", fmt::format("a link between \"{}\" and \"{}\" is already declared", *from, *to));
    std::optional<double> bandwidth = reader.quantity("bandwidth", true, planner::parseBandwidth);
    std::optional<double> reverse = reader.quantity("reverse_bandwidth", false, planner::parseBandwidth);
    if (bandwidth && *bandwidth <= 0) reader.error("bandwidth", "must be more than 0");
    if (reverse && *reverse <= 0) reader.error("reverse_bandwidth", "must be more than 0");
    double rtt = reader.quantity("rtt", false, planner::parseSeconds).value_or(0);
    std::string trace;
    if (std::optional<std::string> file = reader.string("trace", false)) {
      trace = resolve(topology.path, *file);
      if (!std::ifstream(trace)) reader.error("trace", fmt::format("file \"{}\" cannot be read", trace));
    }
    reader.finish({"from", "to", "bandwidth", "reverse_bandwidth", "rtt", "trace"});
    if (a && b) {  // kept even when a figure is wrong, so no "unreachable" error follows from it
      double forward = bandwidth.value_or(1);
      topology.fleet.links.push_back({*a, *b, forward, reverse.value_or(forward), rtt});
      topology.linkTraces.push_back(trace);
    }
  }
}

void readModel(const toml::table* table, Topology& topology, Diagnostics& diagnostics) {
  if (!table) return;
  TableReader reader(*table, "[model]", diagnostics);
  ModelSection& model = topology.model;
  if (std::optional<std::string> bundle = reader.string("bundle", true)) {
    model.bundle = resolve(topology.path, *bundle);
    model.bundleWhere = reader.where("bundle");
    if (!std::filesystem::exists(model.bundle))
      reader.error("bundle", fmt::format("\"{}\" does not exist (a bundle folder or an .onnx file)", model.bundle));
  }
  if (std::optional<std::string> name = reader.string("strategy", false)) {
    if (std::optional<planner::Strategy> s = planner::strategyFromName(*name)) model.strategy = *s;
    else reader.error("strategy", fmt::format("is \"{}\"; expected split, clio, nonn, early_exit or auto", *name));
  }
  model.objectiveName = reader.string("objective", false).value_or("latency");
  const toml::table* weights = reader.table("weights", model.objectiveName == "weighted");
  if (model.objectiveName == "latency") {
    model.objective = planner::Objective::latency();
  } else if (model.objectiveName == "energy") {
    model.objective = planner::Objective::energy();
  } else if (model.objectiveName != "weighted") {
    reader.error("objective", fmt::format("is \"{}\"; expected latency, energy or weighted", model.objectiveName));
  }
  if (weights && model.objectiveName != "weighted") {
    reader.error("weights", "only applies with objective = \"weighted\"");
  } else if (weights) {
    TableReader w(*weights, "[model] weights", diagnostics);
    double latency = w.number("latency", false).value_or(0), energy = w.number("energy", false).value_or(0);
    if (latency < 0 || energy < 0 || latency + energy <= 0)
      reader.error("weights", "needs non-negative 'latency' (per second) and 'energy' (per joule), not both 0");
    model.objective = {latency, energy};
    w.finish({"latency", "energy"});
  }
  model.constraints.latencySloSeconds = reader.quantity("latency_slo", false, planner::parseSeconds);
  if (std::optional<double> floor = reader.number("accuracy_floor", false)) {
    if (*floor < 0 || *floor > 1) reader.error("accuracy_floor", "must be a fraction between 0 and 1");
    model.constraints.accuracyFloor = *floor;
  }
  if (std::optional<double> drop = reader.number("accuracy_drop", false)) {
    if (*drop < 0 || *drop > 1) reader.error("accuracy_drop", "must be a fraction between 0 and 1");
    model.constraints.accuracyDrop = *drop;
  }
  model.source = reader.string("source", true).value_or("");
  model.sink = reader.string("sink", true).value_or("");
  for (auto [key, name] : {std::pair{"source", &model.source}, std::pair{"sink", &model.sink}})
    if (!name->empty() && !topology.fleet.deviceIndex(*name))
      reader.error(key, fmt::format("names \"{}\", which is not a declared device", *name));
  model.optimize = reader.boolean("optimize", false).value_or(true);
  reader.finish({"bundle", "strategy", "objective", "weights", "latency_slo", "accuracy_floor", "accuracy_drop",
                 "source", "sink", "optimize"});

  // The planner needs a path of links from the source to the sink.
  std::optional<size_t> source = topology.fleet.deviceIndex(model.source);
  std::optional<size_t> sink = topology.fleet.deviceIndex(model.sink);
  if (source && sink) {
    std::vector<bool> reached(topology.fleet.devices.size(), false);
    std::vector<size_t> frontier{*source};
    reached[*source] = true;
    while (!frontier.empty()) {
      size_t at = frontier.back();
      frontier.pop_back();
      for (size_t next = 0; next < reached.size(); ++next)
        if (!reached[next] && topology.fleet.bytesPerSecond(at, next) > 0) {
          reached[next] = true;
          frontier.push_back(next);
        }
    }
    if (!reached[*sink])
      reader.error("sink", fmt::format("\"{}\" cannot be reached from the source \"{}\" over the declared links",
                                       model.sink, model.source));
  }
}

void readPlanner(const toml::table* table, Topology& topology, Diagnostics& diagnostics) {
  if (!table) return;
  TableReader reader(*table, "[planner]", diagnostics);
  if (std::optional<double> margin = reader.number("hysteresis", false)) {
    if (*margin < 0 || *margin >= 1) reader.error("hysteresis", "must be a fraction in [0, 1), e.g. 0.1 for 10%");
    topology.planner.hysteresis = *margin;
  }
  topology.planner.holdSeconds = reader.quantity("hold", false, planner::parseSeconds).value_or(0.25);
  if (topology.planner.holdSeconds < 0 || topology.planner.holdSeconds > 3600)
    reader.error("hold", "must be between 0 and 1 hour");
  topology.planner.adapt = reader.boolean("adapt", false).value_or(true);
  reader.finish({"hysteresis", "hold", "adapt"});
}

}  // namespace

Result<Topology> parseTopology(std::string_view text, const std::string& path) {
  Diagnostics diagnostics(path);
  std::optional<toml::table> parsed = parseToml(text, diagnostics);
  if (!parsed) return diagnostics.toError();
  const toml::table& root = *parsed;
  Topology topology;
  topology.path = path;
  TableReader reader(root, "top level", diagnostics);
  const toml::table* fleet = reader.table("fleet", true);
  readFleet(fleet, topology, diagnostics);
  readDevices(reader.node("device"), topology, diagnostics);
  readLinks(reader.node("link"), topology, diagnostics);
  readModel(reader.table("model", true), topology, diagnostics);
  readPlanner(reader.table("planner", false), topology, diagnostics);
  reader.finish({"fleet", "device", "link", "model", "planner"});
  if (diagnostics.failed()) return diagnostics.toError();
  return topology;
}

Result<Topology> loadTopology(const std::string& path) {
  Result<std::string> text = readTextFile(path);
  if (!text) return text.error();
  return parseTopology(*text, path);
}

}  // namespace cleave::config

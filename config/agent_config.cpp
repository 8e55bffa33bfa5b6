#include "config/agent_config.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include "config/device_table.h"
#include "config/toml_reader.h"
#include "planner/units.h"

namespace cleave::config {
namespace {

std::string resolve(const std::string& file, const std::string& relative) {
  std::filesystem::path p(relative);
  if (p.is_absolute()) return relative;
  return (std::filesystem::path(file).parent_path() / p).lexically_normal().string();
}

// ZeroMQ transports an agent can use; the rest of the string is checked by libzmq at bind or
// connect time, where its error names the endpoint.
bool isEndpoint(const std::string& text) { return isZmqEndpoint(text); }

void readEndpoint(TableReader& reader, std::string_view key, bool required, std::string& out) {
  std::optional<std::string> value = reader.string(key, required);
  if (!value) return;
  if (!isEndpoint(*value)) {
    reader.error(key, fmt::format("must be a ZeroMQ endpoint such as \"tcp://127.0.0.1:7700\", not \"{}\"", *value));
    return;
  }
  out = *value;
}

// `client` and `client_keys`: both or neither; each key a distinct, non-empty path.
void readClient(TableReader& reader, const std::string& path, Diagnostics& diagnostics, AgentConfig& config) {
  readEndpoint(reader, "client", false, config.clientEndpoint);
  const toml::node* keys = reader.node("client_keys");
  if (keys == nullptr) {
    if (!config.clientEndpoint.empty())
      reader.error("client", "needs 'client_keys': the public key files of the local applications it admits");
    return;
  }
  const toml::array* list = keys->as_array();
  if (list == nullptr) {
    reader.error("client_keys", fmt::format("must be an array of public key files, such as [\"keys/app.pub\"], not {}",
                                            typeName(*keys)));
    return;
  }
  if (list->empty()) reader.error("client_keys", "must name at least one public key file");
  if (list->size() > MAX_CLIENT_KEYS)
    reader.error("client_keys", fmt::format("lists {} files; at most {} are allowed", list->size(), MAX_CLIENT_KEYS));
  std::set<std::string> seen;
  for (const toml::node& entry : *list) {
    std::optional<std::string> file = entry.value<std::string>();
    if (!entry.is_string() || file->empty()) {
      diagnostics.error(entry.source(), fmt::format("{}: 'client_keys' entries must be file names, not {}",
                                                    reader.context(), entry.is_string() ? "an empty string"
                                                                                        : std::string(typeName(entry))));
      continue;
    }
    const std::string resolved = resolve(path, *file);
    if (!seen.insert(resolved).second) {
      diagnostics.error(entry.source(),
                        fmt::format("{}: 'client_keys' lists \"{}\" twice", reader.context(), *file));
      continue;
    }
    config.clientKeyFiles.push_back(resolved);
  }
  if (config.clientEndpoint.empty() && reader.node("client") == nullptr)
    reader.error("client_keys", "has no socket to admit clients to: set 'client' (an endpoint to bind)");
}

// [[shape]] tables: each names a peer once and gives a bandwidth (and rtt) or a trace file.
void readShapes(const toml::node* node, const std::string& path, Diagnostics& diagnostics, AgentConfig& config) {
  if (!node) return;
  const toml::array* array = node->as_array();
  if (!array || !array->is_array_of_tables()) {
    diagnostics.error(node->source(), "'shape' must be an array of tables: write each as [[shape]]");
    return;
  }
  std::set<std::string> peers;
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::table& table = *array->get(i)->as_table();
    TableReader reader(table, fmt::format("[[shape]] #{}", i + 1), diagnostics);
    std::optional<std::string> peer = reader.string("peer", true);
    if (peer && !peers.insert(*peer).second) reader.error("peer", fmt::format("\"{}\" is shaped twice", *peer));
    std::optional<double> bandwidth = reader.quantity("bandwidth", false, planner::parseBandwidth);
    std::optional<double> rtt = reader.quantity("rtt", false, planner::parseSeconds);
    std::optional<std::string> trace = reader.string("trace", false);
    std::optional<double> start = reader.number("trace_start", false);
    reader.finish({"peer", "bandwidth", "rtt", "trace", "trace_start"});
    if (bandwidth && *bandwidth <= 0) reader.error("bandwidth", "must be more than 0");
    if (rtt && *rtt < 0) reader.error("rtt", "must be 0 or more");
    if (trace && (bandwidth || rtt)) reader.error("trace", "replaces 'bandwidth' and 'rtt'; give one or the other");
    if (!trace && !bandwidth) reader.error("peer", "needs 'bandwidth' (and optionally 'rtt') or 'trace'");
    if (start && !trace) reader.error("trace_start", "only applies to a 'trace'");
    if (!peer) continue;
    if (trace) {
      std::string file = resolve(path, *trace);
      Result<BandwidthTrace> loaded = BandwidthTrace::load(file);
      if (!loaded) {
        reader.error("trace", "is not a usable trace: " + loaded.error().message);
        continue;
      }
      config.shapes.push_back({*peer, std::move(*loaded), file, start});
    } else if (bandwidth && *bandwidth > 0) {
      config.shapes.push_back({*peer, BandwidthTrace::constant(*bandwidth, rtt.value_or(0.0)), "", std::nullopt});
    }
  }
}

}  // namespace

Result<AgentConfig> parseAgentConfig(std::string_view text, const std::string& path) {
  Diagnostics diagnostics(path);
  std::optional<toml::table> parsed = parseToml(text, diagnostics);
  if (!parsed) return diagnostics.toError();
  const toml::table& root = *parsed;
  AgentConfig config;
  config.path = path;
  TableReader reader(root, "agent", diagnostics);

  config.name = reader.string("name", true).value_or("");
  if (!config.name.empty() &&
      (config.name.size() > MAX_AGENT_NAME || !isPlainName(config.name)))
    reader.error("name", fmt::format("\"{}\" must be 1 to {} letters, digits, '_' or '-' (a device name of the "
                                     "topology)",
                                     config.name, MAX_AGENT_NAME));
  readEndpoint(reader, "daemon", true, config.daemonEndpoint);
  if (std::optional<std::string> key = reader.string("daemon_key", true)) config.daemonKeyFile = resolve(path, *key);
  config.keysDir = resolve(path, reader.string("keys", false).value_or("keys"));
  readEndpoint(reader, "data", false, config.dataEndpoint);
  if (std::optional<std::string> advertise = reader.string("advertise", false); advertise && !advertise->empty()) {
    if (!isEndpoint(*advertise) || advertise->find('*') != std::string::npos)
      reader.error("advertise", fmt::format("must be an endpoint peers can connect to, such as "
                                            "\"tcp://10.0.0.5:5601\", not \"{}\"",
                                            *advertise));
    else
      config.advertise = *advertise;
  }
  readClient(reader, path, diagnostics, config);
  if (std::optional<int64_t> threads = reader.integer("threads", false)) {
    if (*threads < 1 || *threads > MAX_AGENT_THREADS)
      reader.error("threads", fmt::format("must be between 1 and {}, not {}", MAX_AGENT_THREADS, *threads));
    else
      config.threads = static_cast<int>(*threads);
  }
  if (std::optional<double> seconds = reader.quantity("measure_seconds", false, planner::parseSeconds, 1.0)) {
    if (*seconds <= 0 || *seconds > MAX_MEASURE_SECONDS)
      reader.error("measure_seconds", fmt::format("must be more than 0 and at most {} seconds", MAX_MEASURE_SECONDS));
    else
      config.measureSeconds = *seconds;
  }
  readShapes(reader.node("shape"), path, diagnostics, config);
  config.paceCompute = reader.boolean("pace_compute", false).value_or(false);
  if (const toml::table* device = reader.table("device", false)) {
    TableReader deviceReader(*device, "[device]", diagnostics);
    planner::DeviceProfile profile;
    profile.name = config.name;
    readDeviceProfile(deviceReader, profile, diagnostics);
    deviceReader.finish(std::vector<std::string_view>(DEVICE_PROFILE_KEYS.begin(), DEVICE_PROFILE_KEYS.end()));
    config.device = std::move(profile);
  }
  reader.finish({"name", "daemon", "daemon_key", "keys", "data", "advertise", "threads", "measure_seconds", "client",
                 "client_keys", "shape", "pace_compute", "device"});
  if (diagnostics.failed()) return diagnostics.toError();
  return config;
}

Result<AgentConfig> loadAgentConfig(const std::string& path) {
  Result<std::string> text = readTextFile(path);
  if (!text) return text.error();
  return parseAgentConfig(*text, path);
}

}  // namespace cleave::config

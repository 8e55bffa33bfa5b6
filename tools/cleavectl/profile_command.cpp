#include "tools/cleavectl/profile_command.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "runtime/device_benchmark.h"

namespace cleave::cli {
namespace {

constexpr double MAX_SECONDS = 3600.0;
constexpr int MAX_THREADS = 256;
// Host names may be long FQDNs; a device name is a short label.
constexpr size_t MAX_NAME_LENGTH = 64;

struct ProfileOptions {
  std::string seconds = "3";
  std::string name;  // empty: the host name
  std::string kind = "measured";
  std::string threads = "1";
};

int fail(const std::string& message) {
  fmt::print(stderr, "cleavectl: error: {}\n", message);
  return 1;
}

// `x` rounded to three significant digits, printed without an exponent or trailing zeros
// ("412", "9.8", "0.213"). Expects 0 < x < 1000 after rounding; callers pick the unit so.
std::string threeDigits(double x) {
  int decimals = std::max(0, 2 - static_cast<int>(std::floor(std::log10(x))));
  std::string text = fmt::format("{:.{}f}", x, decimals);
  if (text.find('.') != std::string::npos) {
    text.erase(text.find_last_not_of('0') + 1);
    if (text.back() == '.') text.pop_back();
  }
  return text;
}

// `x` rounded to three significant digits, so callers can tell whether it reaches the next unit.
double roundThreeDigits(double x) {
  double scale = std::pow(10.0, 2 - std::floor(std::log10(x)));
  return std::round(x * scale) / scale;
}

// MAC/s in the topology's rate grammar with three significant digits: "9.8G", "412M".
std::string formatRate(double macsPerSecond) {
  constexpr const char* SUFFIXES[] = {"k", "M", "G", "T"};
  double scaled = macsPerSecond / 1e3;
  for (size_t i = 0; i < 4; ++i, scaled /= 1e3) {
    double rounded = roundThreeDigits(scaled);
    if (rounded < 1000.0) return threeDigits(rounded) + SUFFIXES[i];
  }
  return fmt::format("{:.0f}T", macsPerSecond / 1e12);  // beyond any machine; kept well-formed
}

// A duration in the topology's time grammar with three significant digits: "0.213us", "1.52ms".
std::string formatDuration(double seconds) {
  double us = roundThreeDigits(seconds * 1e6);
  if (us < 1000.0) return threeDigits(us) + "us";
  double ms = roundThreeDigits(seconds * 1e3);
  if (ms < 1000.0) return threeDigits(ms) + "ms";
  return threeDigits(roundThreeDigits(seconds)) + "s";
}

// A TOML basic string.
std::string tomlString(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      out += fmt::format("\\u{:04x}", static_cast<int>(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// The host name made into a device name: the first label of an FQDN, other characters
// replaced by '-'.
std::string hostDeviceName() {
  char buffer[HOST_NAME_MAX + 1] = {};
  if (gethostname(buffer, sizeof buffer - 1) != 0 || buffer[0] == '\0') return "device";
  std::string name(buffer);
  name = name.substr(0, name.find('.'));
  if (name.size() > MAX_NAME_LENGTH) name.resize(MAX_NAME_LENGTH);
  for (char& c : name)
    if (!isNameChar(c)) c = '-';
  return name.empty() ? "device" : name;
}

Result<double> parseSeconds(const std::string& text) {
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(begin, &end);
  if (text.empty() || end != begin + text.size() || errno == ERANGE)
    return Error{fmt::format("--seconds: '{}' is not a number", text)};
  if (!std::isfinite(value) || value <= 0.0 || value > MAX_SECONDS)
    return Error{fmt::format("--seconds: {} is out of range; give more than 0 and at most {:g}", text, MAX_SECONDS)};
  return value;
}

Result<int> parseThreads(const std::string& text) {
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  long value = std::strtol(begin, &end, 10);
  if (text.empty() || end != begin + text.size() || errno == ERANGE)
    return Error{fmt::format("--threads: '{}' is not an integer", text)};
  if (value < 1 || value > MAX_THREADS)
    return Error{fmt::format("--threads: {} is out of range [1, {}]", text, MAX_THREADS)};
  return static_cast<int>(value);
}

Status checkName(const std::string& name) {
  if (name.empty() || name.size() > MAX_NAME_LENGTH)
    return Error{fmt::format("--name: must be 1 to {} characters", MAX_NAME_LENGTH)};
  for (char c : name)
    if (!isNameChar(c)) return Error{fmt::format("--name: '{}' may hold only letters, digits, '_' and '-'", name)};
  return {};
}

// The [[device]] block, preceded by comments saying how it was measured.
std::string deviceToml(const MeasuredProfile& p, const std::string& name, const std::string& kind) {
  std::string out = fmt::format(
      "# Measured by `cleavectl profile --seconds {:g} --threads {}`: the cleave runtime's own kernels\n"
      "# (f32) on typical layers; MAC/s = the analysis' MACs of a class / median kernel time per run.\n",
      p.seconds, p.threads);
  for (const ClassMeasurement& c : p.classes)
    out += fmt::format("#   {:<12} {:>6} MACs in {} nodes, median {:.3f} ms over {} runs\n", opClassName(c.opClass),
                       formatRate(static_cast<double>(c.macsPerRun)), c.nodesPerRun, c.medianSeconds * 1e3, c.runs);
  out +=
      fmt::format("#   node overhead: chain of {} tiny nodes, median over {} runs\n", p.overheadNodes, p.overheadRuns);

  auto rate = [&](OpClass opClass) { return formatRate(p.find(opClass)->macsPerSecond()); };
  out += "[[device]]\n";
  out += fmt::format("name = {}\n", tomlString(name));
  out += fmt::format("kind = {}\n", tomlString(kind));
  out += "# default (for op classes not listed) is the conv figure: convolutions carry most of a CNN's MACs.\n";
  out += fmt::format(
      "macs = {{ default = \"{}\", conv = \"{}\", depthwise = \"{}\", gemm = \"{}\", elementwise = \"{}\" }}\n",
      rate(OpClass::Conv), rate(OpClass::Conv), rate(OpClass::Depthwise), rate(OpClass::Gemm),
      rate(OpClass::Elementwise));
  out += fmt::format("node_overhead = \"{}\"\n", formatDuration(p.nodeOverheadSeconds));
  out += "# Total RAM (MemTotal), not what is free: declare less to leave headroom for the OS and other programs.\n";
  out += fmt::format("ram = \"{}MiB\"\n", p.ramBytes >> 20);
  out += "# Not measurable by a profile; set from a datasheet or a power meter if the objective needs them:\n";
  out += "# energy_per_mac = \"4pJ\"\n";
  out += "# radio_energy_per_byte = \"50nJ\"\n";
  out += "# flash = \"8MiB\"\n";
  return out;
}

int profile(const ProfileOptions& options) {
  Result<double> seconds = parseSeconds(options.seconds);
  if (!seconds) return fail(seconds.error().message);
  Result<int> threads = parseThreads(options.threads);
  if (!threads) return fail(threads.error().message);
  std::string name = options.name.empty() ? hostDeviceName() : options.name;
  if (Status ok = checkName(name); !ok) return fail(ok.error().message);
  if (options.kind.empty()) return fail("--kind: must not be empty");

  Result<MeasuredProfile> measured = measureDeviceProfile(BenchmarkOptions{*seconds, *threads});
  if (!measured) return fail(measured.error().message);
  fmt::print("{}", deviceToml(*measured, name, options.kind));
  return 0;
}

}  // namespace

void addProfileCommand(CLI::App& app, int& exitCode) {
  auto options = std::make_shared<ProfileOptions>();
  CLI::App* cmd = app.add_subcommand(
      "profile", "Measure this machine's MAC/s per op class and node overhead; print a [[device]] block");
  // Numbers are taken as text and checked here, so a bad value gets cleavectl's one-line error.
  cmd->add_option("--seconds", options->seconds, "Time budget for the measurement (default 3)");
  cmd->add_option("--name", options->name, "Device name (default: the host name)");
  cmd->add_option("--kind", options->kind, "Device kind label (default \"measured\")");
  cmd->add_option("--threads", options->threads, "Intra-op threads, as the agent will run (default 1)");
  cmd->callback([options, &exitCode] { exitCode = profile(*options); });
}

}  // namespace cleave::cli

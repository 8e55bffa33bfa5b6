#include "config/device_table.h"

#include <fmt/format.h>

#include "planner/units.h"

namespace cleave::config {
namespace {

using planner::OpClass;

Result<double> parseByteCount(std::string_view text) {
  Result<int64_t> bytes = planner::parseBytes(text);
  if (!bytes) return bytes.error();
  return static_cast<double>(*bytes);
}

// `macs`: one figure for every class, or a table per class with `default` for the rest.
void readMacs(TableReader& reader, planner::DeviceProfile& device, Diagnostics& diagnostics) {
  const toml::node* macs = reader.node("macs");
  if (!macs) {
    reader.quantity("macs", true, planner::parseRate, 1.0);
    return;
  }
  if (!macs->is_table()) {
    std::optional<double> rate = reader.quantity("macs", true, planner::parseRate, 1.0);
    if (rate && *rate <= 0) reader.error("macs", "must be more than 0 MAC/s");
    if (rate) device.macsPerSecond.fill(*rate);
    return;
  }
  TableReader perClass(*macs->as_table(), reader.context() + " macs", diagnostics);
  std::optional<double> fallback = perClass.quantity("default", false, planner::parseRate, 1.0);
  for (OpClass c : {OpClass::Conv, OpClass::Depthwise, OpClass::Gemm, OpClass::Elementwise}) {
    std::optional<double> rate = perClass.quantity(planner::opClassName(c), false, planner::parseRate, 1.0);
    if (!rate) rate = fallback;
    if (!rate) {
      perClass.error(planner::opClassName(c), "is missing and no 'default' is given");
      continue;
    }
    if (*rate <= 0) perClass.error(planner::opClassName(c), "must be more than 0 MAC/s");
    device.macsPerSecond[static_cast<size_t>(c)] = *rate;
  }
  // Ops of no class (pooling, data movement) are memory-bound like elementwise ones.
  device.macsPerSecond[static_cast<size_t>(OpClass::Other)] =
      fallback.value_or(device.macsPerSecond[static_cast<size_t>(OpClass::Elementwise)]);
  perClass.finish({"default", "conv", "depthwise", "gemm", "elementwise"});
}

}  // namespace

void readDeviceProfile(TableReader& reader, planner::DeviceProfile& device, Diagnostics& diagnostics) {
  device.kind = reader.string("kind", true).value_or("");
  readMacs(reader, device, diagnostics);
  device.nodeOverheadSeconds = reader.quantity("node_overhead", false, planner::parseSeconds).value_or(10e-6);
  if (std::optional<double> ram = reader.quantity("ram", true, parseByteCount, 1.0)) {
    device.ramBytes = static_cast<int64_t>(*ram);
    if (device.ramBytes <= 0) reader.error("ram", "must be more than 0 bytes");
  }
  if (std::optional<double> flash = reader.quantity("flash", false, parseByteCount, 1.0))
    device.flashBytes = static_cast<int64_t>(*flash);
  device.joulesPerMac = reader.quantity("energy_per_mac", false, planner::parseJoules, 1.0).value_or(0);
  device.radioJoulesPerByte = reader.quantity("radio_energy_per_byte", false, planner::parseJoules, 1.0).value_or(0);
}

}  // namespace cleave::config

// The device-profile keys shared by a topology's [[device]] tables and an agent's [device]
// table: kind, MAC/s (one figure or per op class), node overhead, RAM, flash and energy.
#pragma once

#include <array>
#include <string_view>

#include "config/toml_reader.h"
#include "planner/fleet.h"

namespace cleave::config {

constexpr std::array<std::string_view, 7> DEVICE_PROFILE_KEYS{
    "kind", "macs", "node_overhead", "ram", "flash", "energy_per_mac", "radio_energy_per_byte"};

// Reads those keys into `device` (not its name), reporting mistakes through the reader.
void readDeviceProfile(TableReader& reader, planner::DeviceProfile& device, Diagnostics& diagnostics);

}  // namespace cleave::config

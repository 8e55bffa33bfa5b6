// The device profile an agent registers with (wire::DeviceProfile), checked before the planner
// sees it: the planner divides by these rates. Its own module so the control-message fuzzer
// (fuzz/control_message_fuzz.cpp) runs the daemon's real check.
#pragma once

#include <string>

#include "planner/fleet.h"
#include "proto/control.capnp.h"
#include "runtime/result.h"

namespace cleave::daemon {

// Reads and checks a registered profile; `name` becomes the profile's name. Call it inside
// proto::decodeGuard (it reads a Cap'n Proto reader).
Result<planner::DeviceProfile> decodeProfile(wire::DeviceProfile::Reader p, const std::string& name);

}  // namespace cleave::daemon

// Names of wire enums for logs and operator output, in one place.
#pragma once

#include <string_view>

#include "proto/control.capnp.h"

namespace cleave::proto {

// "split", "clio", "nonn", "early_exit"; "unknown" for a value this build does not know.
std::string_view strategyName(wire::Strategy strategy);

}  // namespace cleave::proto

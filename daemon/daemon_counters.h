// What the daemon counts for `status`, beside its sockets' own counters.
#pragma once

#include <cstdint>

namespace cleave::daemon {

struct DaemonCounters {
  uint64_t requests = 0, results = 0, failed = 0, replans = 0;
  uint64_t drops = 0;        // results for requests no longer pending
  uint64_t badMessages = 0;  // well-formed messages with bad contents
};

}  // namespace cleave::daemon

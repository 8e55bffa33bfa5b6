// Operators watching the fleet (`cleavectl watch`). Each watch is an operator request that never
// ends: every event of a kind it asked for goes to it as a non-final reply. A watch whose operator
// has gone (the send fails: the operator socket is ROUTER_MANDATORY) is dropped.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <capnp/message.h>

#include "proto/control.capnp.h"

namespace cleave::daemon {

class ControlServer;

enum class WatchKind {
  Plans,      // plan changes and request results
  Agents,     // agents up, down, stalled; refused connections
  Telemetry,  // agents' telemetry reports
};

class Watchers {
 public:
  explicit Watchers(ControlServer& server) : server_(server) {}

  // A watch asking for no kind in particular gets every kind.
  void add(const std::string& operatorId, uint64_t requestId, wire::Watch::Reader watch);
  // `fill` writes the event; it is called once per watcher that takes `kind`.
  void broadcast(WatchKind kind, const std::function<void(wire::WatchEvent::Builder)>& fill);

 private:
  struct Watcher {
    std::string operatorId;
    uint64_t requestId = 0;
    bool plans = true, agents = true, telemetry = true;
    bool takes(WatchKind kind) const;
  };

  ControlServer& server_;
  std::vector<Watcher> watchers_;
};

}  // namespace cleave::daemon

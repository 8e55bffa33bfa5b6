#include "daemon/watchers.h"

#include <spdlog/spdlog.h>

#include "daemon/control_server.h"

namespace cleave::daemon {

bool Watchers::Watcher::takes(WatchKind kind) const {
  switch (kind) {
    case WatchKind::Plans: return plans;
    case WatchKind::Agents: return agents;
    case WatchKind::Telemetry: return telemetry;
  }
  return false;
}

void Watchers::add(const std::string& operatorId, uint64_t requestId, wire::Watch::Reader watch) {
  bool any = watch.getTelemetry() || watch.getPlans() || watch.getAgents();
  watchers_.push_back({operatorId, requestId, !any || watch.getPlans(), !any || watch.getAgents(),
                       !any || watch.getTelemetry()});
  spdlog::info("an operator watches (request {})", requestId);
}

void Watchers::broadcast(WatchKind kind, const std::function<void(wire::WatchEvent::Builder)>& fill) {
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    if (!it->takes(kind)) {
      ++it;
      continue;
    }
    capnp::MallocMessageBuilder message;
    auto r = message.initRoot<wire::ControlMessage>().initOperatorReply();
    r.setId(it->requestId);
    r.setFinal(false);
    fill(r.initEvent());
    if (server_.sendToOperator(it->operatorId, message)) {
      ++it;
    } else {  // the watching operator has gone
      spdlog::info("a watch ended (request {})", it->requestId);
      it = watchers_.erase(it);
    }
  }
}

}  // namespace cleave::daemon

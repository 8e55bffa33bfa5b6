#include "daemon/agent_registry.h"

namespace cleave::daemon {

AgentRecord* AgentRegistry::find(const std::string& name) {
  for (AgentRecord& a : agents_)
    if (a.name == name) return &a;
  return nullptr;
}

const AgentRecord* AgentRegistry::find(const std::string& name) const {
  for (const AgentRecord& a : agents_)
    if (a.name == name) return &a;
  return nullptr;
}

AgentRecord* AgentRegistry::findByRoutingId(const std::string& routingId) {
  for (AgentRecord& a : agents_)
    if (a.online && a.routingId == routingId) return &a;
  return nullptr;
}

size_t AgentRegistry::onlineCount() const {
  size_t n = 0;
  for (const AgentRecord& a : agents_) n += a.online ? 1 : 0;
  return n;
}

}  // namespace cleave::daemon

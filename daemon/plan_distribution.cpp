#include "daemon/plan_distribution.h"

#include <capnp/message.h>
#include <spdlog/spdlog.h>

#include "proto/message_codec.h"
#include "proto/plan_codec.h"

namespace cleave::daemon {

void PlanDistribution::pushToAll(const FleetPlan& plan) {
  for (const AgentRecord& agent : registry_.all())
    if (agent.online) pushTo(plan, agent);
}

void PlanDistribution::pushTo(const FleetPlan& plan, const AgentRecord& agent) {
  proto::PlanSpec spec = planSpecFor(plan, agent.name, modelName_);
  for (proto::PeerSpec& peer : spec.peers) {
    const AgentRecord* record = registry_.find(peer.name);
    if (Result<proto::CurveKey> key = proto::decodeZ85Key(record->publicKeyZ85)) peer.publicKey = *key;
    peer.dataEndpoint = record->dataEndpoint;
  }
  capnp::MallocMessageBuilder message;
  proto::encodePlanPush(spec, message.initRoot<wire::ControlMessage>().initPlanPush());
  server_.sendToAgent(agent.routingId, message);
}

void PlanDistribution::answerGraphRequest(const PlanKeeper& keeper, const AgentRecord& agent,
                                          wire::GraphRequest::Reader request) {
  Result<proto::CurveKey> hash = proto::readKey32(request.getHash(), "graphRequest.hash");
  if (!hash) {
    ++counters_.badMessages;
    return;
  }
  const std::string* bytes = keeper.graph(*hash);
  capnp::MallocMessageBuilder reply;
  auto blob = reply.initRoot<wire::ControlMessage>().initGraphBlob();
  blob.setHash(proto::dataOf(*hash));
  blob.setFound(bytes != nullptr);
  blob.setByteLength(bytes ? bytes->size() : 0);
  Frames extra;
  extra.emplace_back(bytes ? bytes->data() : nullptr, bytes ? bytes->size() : 0);
  server_.sendToAgent(agent.routingId, reply, std::move(extra));
}

void PlanDistribution::takeAck(AgentRecord& agent, wire::PlanAck::Reader ack) {
  if (ack.getAccepted()) {
    agent.ackedEpoch = std::max(agent.ackedEpoch, ack.getEpoch());
    spdlog::info("[{}] runs plan epoch {}", agent.name, ack.getEpoch());
  } else {
    Result<std::string> reason = proto::readText(ack.getReason(), 1024, "planAck.reason");
    spdlog::warn("[{}] refused plan epoch {}: {}", agent.name, ack.getEpoch(), reason ? *reason : "?");
  }
}

}  // namespace cleave::daemon

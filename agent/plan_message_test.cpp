// Plan pushes: a round trip through the wire keeps every field; each kind of bad push is an
// Error naming what is wrong; and mutated bytes never crash the decoder.
#include "agent/plan_message.h"

#include <capnp/message.h>
#include <doctest/doctest.h>

#include <random>

#include "proto/message_codec.h"

namespace cleave::agent {
namespace {

proto::ContentHash hashOf(uint8_t seed) {
  proto::ContentHash hash{};
  for (size_t i = 0; i < hash.size(); ++i) hash[i] = static_cast<uint8_t>(seed + i);
  return hash;
}

PlanSpec samplePlan() {
  PlanSpec plan;
  plan.epoch = 3;
  plan.model = "fmnist-small";
  StageSpec stage;
  stage.stage = 1;
  stage.graphHash = hashOf(7);
  stage.graphBytes = 1234;
  stage.inputs = {{"x", {DType::F32, {1, 16, 14, 14}}}};
  stage.outputs = {{"y", {DType::F32, {1, 10}}}, {"skip", {DType::I64, {2}}}};
  stage.next = {{"c", 2, {"y"}}};
  plan.stages.push_back(stage);
  plan.peers = {{"a", hashOf(1), "tcp://127.0.0.1:5601"}, {"c", hashOf(2), "tcp://127.0.0.1:5602"}};
  plan.entry = {"a", 0, {}};
  plan.abandonBefore = 3;
  return plan;
}

// Encodes, then decodes from the bytes the way the agent does (limits, walk, guard).
Result<PlanSpec> roundTrip(const PlanSpec& plan, const std::function<void(wire::PlanPush::Builder)>& tamper = {}) {
  capnp::MallocMessageBuilder builder;
  auto push = builder.initRoot<wire::ControlMessage>().initPlanPush();
  encodePlanPush(plan, push);
  if (tamper) tamper(push);
  zmq::message_t frame = proto::encodeMessage(builder);
  Result<proto::DecodedMessage> decoded = proto::DecodedMessage::fromFrame(frame, proto::CONTROL_LIMITS);
  if (!decoded) return decoded.error();
  Result<wire::ControlMessage::Reader> root = decoded->root<wire::ControlMessage>();
  if (!root) return root.error();
  return decodePlanPush(root->getPlanPush());
}

std::string errorOf(const PlanSpec& plan, const std::function<void(wire::PlanPush::Builder)>& tamper = {}) {
  Result<PlanSpec> decoded = roundTrip(plan, tamper);
  REQUIRE_FALSE(decoded.ok());
  return decoded.error().message;
}

}  // namespace

TEST_CASE("a plan push survives the wire field for field") {
  PlanSpec plan = samplePlan();
  Result<PlanSpec> decoded = roundTrip(plan);
  REQUIRE_MESSAGE(decoded.ok(), decoded.error().message);
  CHECK(decoded->epoch == 3);
  CHECK(decoded->model == "fmnist-small");
  CHECK(decoded->abandonBefore == 3);
  CHECK(decoded->entry == plan.entry);
  CHECK(decoded->peers == plan.peers);
  REQUIRE(decoded->stages.size() == 1);
  const StageSpec& stage = decoded->stages[0];
  CHECK(stage.graphHash == plan.stages[0].graphHash);
  CHECK(stage.graphBytes == 1234);
  REQUIRE(stage.outputs.size() == 2);
  CHECK(stage.outputs[1].name == "skip");
  CHECK(stage.outputs[1].type == TensorType{DType::I64, {2}});
  CHECK(stage.inputs[0].type == TensorType{DType::F32, {1, 16, 14, 14}});
  CHECK(stage.next == plan.stages[0].next);
  CHECK(decoded->findStage(1) != nullptr);
  CHECK(decoded->findStage(0) == nullptr);
  CHECK(checkPlanFor(*decoded, "b").ok());
}

TEST_CASE("each kind of bad plan push is refused with a reason") {
  PlanSpec plan = samplePlan();
  CHECK(errorOf(plan, [](auto p) { p.setEpoch(0); }).find("epoch 0") != std::string::npos);
  CHECK(errorOf(plan, [](auto p) { p.setAbandonBefore(4); }).find("abandonBefore 4") != std::string::npos);
  CHECK(errorOf(plan, [](auto p) {
          p.getPeers()[0].setPublicKey(capnp::Data::Reader(nullptr, 0));
        }).find("peer 'a' key: 0 bytes") != std::string::npos);
  CHECK(errorOf(plan, [](auto p) {
          p.getStages()[0].setGraphHash(capnp::Data::Reader(nullptr, 0));
        }).find("graph hash") != std::string::npos);
  CHECK(errorOf(plan, [](auto p) {
          p.getStages()[0].getInputs()[0].getShape().set(1, -16);
        }).find("dimension -16 must be positive") != std::string::npos);
  CHECK(errorOf(plan, [](auto p) {
          p.getStages()[0].getInputs()[0].setDtype(static_cast<wire::DType>(99));
        }).find("unknown dtype 99") != std::string::npos);
  CHECK(errorOf(plan, [](auto p) {
          p.getStages()[0].getInputs()[0].setDtype(wire::DType::UNDEFINED);
        }).find("unknown dtype 0") != std::string::npos);
  CHECK(errorOf(plan, [](auto p) { p.setStrategy(static_cast<wire::Strategy>(42)); }).find("unknown strategy") !=
        std::string::npos);
  CHECK(errorOf(plan, [](auto p) {
          p.getStages()[0].getNext()[0].getTensors().set(0, "nope");
        }).find("'nope', which is not an output") != std::string::npos);
  CHECK(errorOf(plan, [](auto p) { p.getPeers()[1].setName("a"); }).find("listed twice") != std::string::npos);

  PlanSpec twice = plan;
  twice.stages.push_back(plan.stages[0]);
  CHECK(errorOf(twice).find("stage 1 assigned twice") != std::string::npos);
  PlanSpec many = plan;
  for (size_t i = 0; i < MAX_PLAN_STAGES; ++i) {
    many.stages.push_back(plan.stages[0]);
    many.stages.back().stage = static_cast<uint32_t>(100 + i);
  }
  CHECK(errorOf(many).find("exceed the limit of 64") != std::string::npos);
  PlanSpec longName = plan;
  longName.peers[0].name = std::string(65, 'p');
  CHECK(errorOf(longName).find("exceeds the limit of 64") != std::string::npos);
}

TEST_CASE("a plan must route only to this agent and its peers") {
  PlanSpec plan = samplePlan();
  CHECK(checkPlanFor(plan, "a").error().message.find("its own peer") != std::string::npos);
  PlanSpec stranger = plan;
  stranger.stages[0].next[0].agent = "z";
  CHECK(checkPlanFor(stranger, "b").error().message.find("sends to 'z'") != std::string::npos);
  PlanSpec entry = plan;
  entry.entry.agent = "b";
  CHECK(checkPlanFor(entry, "b").error().message.find("stage 0 on this agent") != std::string::npos);
}

TEST_CASE("mutated plan pushes give errors or plans, never a crash") {
  capnp::MallocMessageBuilder builder;
  encodePlanPush(samplePlan(), builder.initRoot<wire::ControlMessage>().initPlanPush());
  zmq::message_t original = proto::encodeMessage(builder);
  std::mt19937 rng(17);
  int decodedOk = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<std::byte> bytes(static_cast<const std::byte*>(original.data()),
                                 static_cast<const std::byte*>(original.data()) + original.size());
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] = static_cast<std::byte>(rng() & 0xff);
    Result<proto::DecodedMessage> decoded = proto::DecodedMessage::fromBytes(bytes, proto::CONTROL_LIMITS);
    if (!decoded) continue;
    Result<wire::ControlMessage::Reader> root = decoded->root<wire::ControlMessage>();
    if (!root) continue;
    Result<PlanSpec> plan = proto::decodeGuard("test", [&]() -> Result<PlanSpec> {
      if (root->which() != wire::ControlMessage::PLAN_PUSH) return Error{"not a plan push"};
      return decodePlanPush(root->getPlanPush());
    });
    if (plan) ++decodedOk;
  }
  // Most flips land in data (names, numbers), which still decodes; the point is no crash.
  CHECK(decodedOk > 0);
}

}  // namespace cleave::agent

// Plan pushes: a round trip through the wire keeps every field; each kind of bad push is an
// Error naming what is wrong; and mutated bytes never crash the decoder.
#include "proto/plan_codec.h"

#include <capnp/message.h>
#include <doctest/doctest.h>

#include <random>

#include "proto/message_codec.h"

namespace cleave::proto {
namespace {

ContentHash hashOf(uint8_t seed) {
  ContentHash hash{};
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
  zmq::message_t frame = encodeMessage(builder);
  Result<DecodedMessage> decoded = DecodedMessage::fromFrame(frame, CONTROL_LIMITS);
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

// A nonn fusion stage: features from three students on three agents, a fourth student's zeroed.
PlanSpec fusionPlan() {
  PlanSpec plan = samplePlan();
  plan.strategy = wire::Strategy::NONN;
  StageSpec& fusion = plan.stages[0];
  fusion.label = "fusion";
  fusion.inputs.clear();
  for (int k = 0; k < 4; ++k) fusion.inputs.push_back({"features_" + std::to_string(k), {DType::F32, {1, 16}}});
  fusion.outputs = {{"logits", {DType::F32, {1, 10}}}};
  fusion.next.clear();
  fusion.upstream = {{"a", 1, {"features_0"}, wire::EdgeKind::ALWAYS},
                     {"c", 2, {"features_1"}, wire::EdgeKind::ALWAYS},
                     {"a", 3, {"features_3"}, wire::EdgeKind::ALWAYS}};
  fusion.zeroedInputs = {"features_2"};
  return plan;
}

TEST_CASE("a stage of a graph plan: upstream routes, zeroed inputs, edge kinds and its label survive the wire") {
  PlanSpec plan = fusionPlan();
  plan.stages[0].upstream[1].kind = wire::EdgeKind::CHANNEL_PREFIX;
  Result<PlanSpec> decoded = roundTrip(plan);
  REQUIRE_MESSAGE(decoded.ok(), decoded.error().message);
  CHECK(decoded->strategy == wire::Strategy::NONN);
  const StageSpec& stage = decoded->stages[0];
  CHECK(stage.upstream == plan.stages[0].upstream);
  CHECK(stage.upstream[1].kind == wire::EdgeKind::CHANNEL_PREFIX);
  CHECK(stage.zeroedInputs == std::vector<std::string>{"features_2"});
  CHECK(stage.label == "fusion");
  CHECK(stage.gathersInputs());
  CHECK(checkPlanFor(*decoded, "b").ok());
  // A split stage (one upstream route, nothing zeroed) takes its inputs in one message.
  StageSpec path = samplePlan().stages[0];
  path.upstream = {{"a", 0, {}, wire::EdgeKind::ALWAYS}};
  CHECK_FALSE(path.gathersInputs());
}

TEST_CASE("bad upstream routes and zeroed inputs are refused with a reason") {
  PlanSpec plan = fusionPlan();
  CHECK(errorOf(plan, [](auto p) {
          p.getStages()[0].getUpstream()[0].getTensors().set(0, "logits");
        }).find("upstream route names 'logits', which is not an input") != std::string::npos);
  CHECK(errorOf(plan, [](auto p) {
          p.getStages()[0].getZeroedInputs().set(0, "image");
        }).find("zeroed input 'image' is not an input") != std::string::npos);
  CHECK(errorOf(plan, [](auto p) {
          p.getStages()[0].getUpstream()[2].setKind(static_cast<wire::EdgeKind>(9));
        }).find("unknown edge kind 9") != std::string::npos);
  CHECK(errorOf(plan, [](auto p) { p.getStages()[0].setLabel(std::string(65, 'l')); }).find("label") !=
        std::string::npos);
  PlanSpec twice = plan;
  twice.stages[0].zeroedInputs.push_back("features_2");
  CHECK(errorOf(twice).find("zeroed input 'features_2' twice") != std::string::npos);
  PlanSpec all = plan;
  all.stages[0].zeroedInputs = {"features_0", "features_1", "features_2", "features_3"};
  CHECK(errorOf(all).find("every input is zeroed") != std::string::npos);
  PlanSpec uncovered = plan;
  uncovered.stages[0].zeroedInputs.clear();  // features_2: neither sent nor zeroed
  CHECK(errorOf(uncovered).find("input 'features_2' is neither sent by an upstream route nor zeroed") !=
        std::string::npos);
  PlanSpec both = plan;
  both.stages[0].zeroedInputs = {"features_1"};
  both.stages[0].upstream.push_back({"c", 4, {"features_2"}, wire::EdgeKind::ALWAYS});
  CHECK(errorOf(both).find("input 'features_1' is both zeroed and sent") != std::string::npos);
  PlanSpec stranger = plan;
  stranger.stages[0].upstream[1].agent = "z";
  CHECK(checkPlanFor(stranger, "b").error().message.find("takes inputs from 'z'") != std::string::npos);
}

TEST_CASE("an early-exit stage's exit head and threshold survive the wire, and are checked") {
  PlanSpec plan = samplePlan();
  plan.strategy = wire::Strategy::EARLY_EXIT;
  StageSpec& block = plan.stages[0];
  block.exitOutput = "y";
  block.exitThreshold = 0.0f;  // every request ends here
  block.next[0].kind = wire::EdgeKind::UNLESS_EXITED;
  Result<PlanSpec> decoded = roundTrip(plan);
  REQUIRE_MESSAGE(decoded.ok(), decoded.error().message);
  CHECK(decoded->stages[0].exitOutput == "y");
  CHECK(decoded->stages[0].exitThreshold == 0.0f);
  CHECK(decoded->stages[0].next[0].kind == wire::EdgeKind::UNLESS_EXITED);

  PlanSpec missing = plan;
  missing.stages[0].exitOutput = "logits";
  CHECK(errorOf(missing).find("its exit 'logits' is none of its outputs") != std::string::npos);
  PlanSpec integer = plan;
  integer.stages[0].exitOutput = "skip";
  CHECK(errorOf(integer).find("its exit 'skip' is not float32") != std::string::npos);
  PlanSpec negative = plan;
  negative.stages[0].exitThreshold = -0.5f;
  CHECK(errorOf(negative).find("exit threshold -0.5") != std::string::npos);
  PlanSpec headless = plan;
  headless.stages[0].exitOutput.clear();
  CHECK(errorOf(headless).find("an unlessExited route from a stage without an exit head") != std::string::npos);
}

TEST_CASE("mutated plan pushes give errors or plans, never a crash") {
  capnp::MallocMessageBuilder builder;
  encodePlanPush(samplePlan(), builder.initRoot<wire::ControlMessage>().initPlanPush());
  zmq::message_t original = encodeMessage(builder);
  std::mt19937 rng(17);
  int decodedOk = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<std::byte> bytes(static_cast<const std::byte*>(original.data()),
                                 static_cast<const std::byte*>(original.data()) + original.size());
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] = static_cast<std::byte>(rng() & 0xff);
    Result<DecodedMessage> decoded = DecodedMessage::fromBytes(bytes, CONTROL_LIMITS);
    if (!decoded) continue;
    Result<wire::ControlMessage::Reader> root = decoded->root<wire::ControlMessage>();
    if (!root) continue;
    Result<PlanSpec> plan = decodeGuard("test", [&]() -> Result<PlanSpec> {
      if (root->which() != wire::ControlMessage::PLAN_PUSH) return Error{"not a plan push"};
      return decodePlanPush(root->getPlanPush());
    });
    if (plan) ++decodedOk;
  }
  // Most flips land in data (names, numbers), which still decodes; the point is no crash.
  CHECK(decodedOk > 0);
}

}  // namespace cleave::proto

#include "proto/message_codec.h"

#include <capnp/message.h>
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "proto/content_hash.h"
#include "proto/control.capnp.h"

namespace cleave::proto {
namespace {

std::vector<std::byte> bytesOf(const zmq::message_t& frame) {
  auto* p = static_cast<const std::byte*>(frame.data());
  return {p, p + frame.size()};
}

// A plan push of `stages` stages, each with two input specs: the deepest control message.
zmq::message_t samplePlanPush(unsigned stages) {
  capnp::MallocMessageBuilder builder;
  auto push = builder.initRoot<wire::ControlMessage>().initPlanPush();
  push.setEpoch(7);
  push.setStrategy(wire::Strategy::SPLIT);
  push.setModel("resnet18");
  auto list = push.initStages(stages);
  for (unsigned s = 0; s < stages; ++s) {
    list[s].setStage(s);
    const std::string name = "stage" + std::to_string(s);
    ContentHash hash = contentHash(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(name.data()), name.size()));
    list[s].setGraphHash(dataOf(hash));
    auto inputs = list[s].initInputs(2);
    for (unsigned i = 0; i < 2; ++i) {
      inputs[i].setName("x");
      inputs[i].setDtype(wire::DType::FLOAT32);
      auto shape = inputs[i].initShape(4);
      for (unsigned d = 0; d < 4; ++d) shape.set(d, 1 + d);
    }
  }
  push.initEntry().setAgent("pi-1");
  return encodeMessage(builder);
}

// One `switch (message.which())` with a short handler per case, as daemon and agents will
// write it; unknown kinds fall to default.
std::string dispatch(wire::ControlMessage::Reader message) {
  switch (message.which()) {
    case wire::ControlMessage::HELLO: return "hello v" + std::to_string(message.getHello().getProtocolVersion());
    case wire::ControlMessage::PLAN_PUSH: return "plan " + std::to_string(message.getPlanPush().getEpoch());
    case wire::ControlMessage::HEARTBEAT: return "heartbeat " + std::to_string(message.getHeartbeat().getSequence());
    default: return "unimplemented " + std::to_string(static_cast<uint16_t>(message.which()));
  }
}

TEST_CASE("control messages round-trip through one frame and dispatch on which()") {
  capnp::MallocMessageBuilder builder;
  auto hello = builder.initRoot<wire::ControlMessage>().initHello();
  hello.setProtocolVersion(wire::PROTOCOL_VERSION);
  hello.setRole(wire::Hello::Role::AGENT);
  hello.setName("pi-1");
  zmq::message_t frame = encodeMessage(builder);
  CHECK(frame.size() % 8 == 0);
  // Cap'n Proto's own flat-array serialisation gives the same bytes.
  kj::Array<capnp::word> reference = capnp::messageToFlatArray(builder);
  REQUIRE(frame.size() == reference.asBytes().size());
  CHECK(std::memcmp(frame.data(), reference.asBytes().begin(), frame.size()) == 0);

  Result<DecodedMessage> decoded = DecodedMessage::fromFrame(frame, CONTROL_LIMITS);
  REQUIRE(decoded.ok());
  Result<wire::ControlMessage::Reader> root = decoded->root<wire::ControlMessage>();
  REQUIRE(root.ok());
  CHECK(dispatch(*root) == fmt::format("hello v{}", wire::PROTOCOL_VERSION));
  CHECK(std::string_view(root->getHello().getName().cStr()) == "pi-1");

  zmq::message_t push = samplePlanPush(3);
  Result<DecodedMessage> pushed = DecodedMessage::fromFrame(push, CONTROL_LIMITS);
  REQUIRE(pushed.ok());
  CHECK(dispatch(*pushed->root<wire::ControlMessage>()) == "plan 7");

  capnp::MallocMessageBuilder other;
  other.initRoot<wire::ControlMessage>().initTelemetry();
  zmq::message_t telemetry = encodeMessage(other);
  CHECK(dispatch(*DecodedMessage::fromFrame(telemetry, CONTROL_LIMITS)->root<wire::ControlMessage>()) ==
        "unimplemented " + std::to_string(static_cast<uint16_t>(wire::ControlMessage::TELEMETRY)));
}

TEST_CASE("size, word alignment, nesting and traversal limits are enforced") {
  zmq::message_t push = samplePlanPush(4);
  std::vector<std::byte> bytes = bytesOf(push);

  DecodeLimits tight = CONTROL_LIMITS;
  tight.maxBytes = bytes.size() - 8;
  CHECK(DecodedMessage::fromBytes(bytes, tight).error().message ==
        "message of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " + std::to_string(bytes.size() - 8));
  CHECK(DecodedMessage::fromBytes(std::span(bytes).first(bytes.size() - 1), CONTROL_LIMITS).error().message ==
        "message of " + std::to_string(bytes.size() - 1) + " bytes is not a whole number of 8-byte words");
  CHECK(DecodedMessage::fromBytes({}, CONTROL_LIMITS).error().message ==
        "message of 0 bytes is not a whole number of 8-byte words");
  // Truncated by a word: the segment table promises more than there is.
  CHECK(DecodedMessage::fromBytes(std::span(bytes).first(bytes.size() - 8), CONTROL_LIMITS)
            .error()
            .message.starts_with("malformed message"));

  // ControlMessage -> PlanPush -> stages -> StageAssignment -> inputs -> TensorSpec -> shape.
  DecodeLimits shallow = CONTROL_LIMITS;
  shallow.nestingLimit = 3;
  Result<DecodedMessage> deep = DecodedMessage::fromBytes(bytes, shallow);
  REQUIRE(deep.ok());
  Result<wire::ControlMessage::Reader> refused = deep->root<wire::ControlMessage>();
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("nesting") != std::string::npos);

  DecodeLimits stingy = CONTROL_LIMITS;
  stingy.traversalLimitWords = 16;
  Result<DecodedMessage> big = DecodedMessage::fromBytes(bytes, stingy);
  REQUIRE(big.ok());
  Result<wire::ControlMessage::Reader> exhausted = big->root<wire::ControlMessage>();
  REQUIRE_FALSE(exhausted.ok());
  CHECK(exhausted.error().message.find("traversal limit") != std::string::npos);

  CHECK(DecodedMessage::fromBytes(bytes, CONTROL_LIMITS)->root<wire::ControlMessage>().ok());
}

TEST_CASE("a Text without its NUL terminator becomes an Error under decodeGuard") {
  capnp::MallocMessageBuilder builder;
  builder.initRoot<wire::ControlMessage>().initHello().setName("abcdefg");
  zmq::message_t frame = encodeMessage(builder);
  std::vector<std::byte> bytes = bytesOf(frame);
  const std::string_view needle("abcdefg\0", 8);
  auto at = std::search(bytes.begin(), bytes.end(), needle.begin(), needle.end(),
                        [](std::byte b, char c) { return b == std::byte(static_cast<uint8_t>(c)); });
  REQUIRE(at != bytes.end());
  at[7] = std::byte{'h'};  // overwrite the terminator
  Result<DecodedMessage> decoded = DecodedMessage::fromBytes(bytes, CONTROL_LIMITS);
  REQUIRE(decoded.ok());
  Result<wire::ControlMessage::Reader> root = decoded->root<wire::ControlMessage>();
  CHECK(root.ok());  // the structural walk does not look inside Text
  if (root.ok()) {
    Result<std::string> name =
        decodeGuard("hello", [&] { return readText(root->getHello().getName(), 64, "hello.name"); });
    REQUIRE_FALSE(name.ok());
    CHECK(name.error().message.starts_with("hello: malformed message: "));
  }
}

TEST_CASE("readText and readKey32 bound what they copy") {
  capnp::MallocMessageBuilder builder;
  auto reg = builder.initRoot<wire::Register>();
  reg.setName("agent-with-a-long-name");
  CHECK(readText(reg.asReader().getName(), 64, "register.name").value() == "agent-with-a-long-name");
  CHECK(readText(reg.asReader().getName(), 5, "register.name").error().message ==
        "register.name: 22 bytes exceeds the limit of 5");
  std::array<uint8_t, 31> shortKey{};
  reg.setPublicKey(dataOf(shortKey));
  CHECK(readKey32(reg.asReader().getPublicKey(), "register.publicKey").error().message ==
        "register.publicKey: 31 bytes, expected 32");
  std::array<uint8_t, 32> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 7);
  reg.setPublicKey(dataOf(key));
  CHECK(readKey32(reg.asReader().getPublicKey(), "register.publicKey").value() == key);
}

}  // namespace
}  // namespace cleave::proto

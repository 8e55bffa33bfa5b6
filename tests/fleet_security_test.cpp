// The fleet under hostile input: an agent whose key is not in the topology, clients without
// CURVE, and thousands of random, truncated, oversized and many-framed messages sent to the
// daemon's sockets and to an agent's data socket. Nobody crashes, nothing bad is admitted, bad
// messages are dropped and counted, and the fleet keeps serving correct results.
#include <signal.h>

#include <random>

#include <capnp/message.h>
#include <doctest/doctest.h>

#include "config/bundle.h"
#include "proto/data.capnp.h"
#include "proto/message_codec.h"
#include "proto/secure_socket.h"
#include "runtime/npy.h"
#include "runtime/session.h"
#include "tests/fleet/fleet_harness.h"

namespace cleave::testing {
namespace {

const std::string TOPOLOGY = std::string(CLEAVE_SOURCE_DIR) + "/tests/fleet/three-agents.toml";

// Waits for the first plan event on a watch.
bool waitForPlanEvent(OperatorClient& watcher) {
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    std::optional<OperatorReply> reply = watcher.receive(1s);
    if (!reply) continue;
    Result<DecodedReply> d = decodeReply(*reply);
    if (d && d->reply.isEvent() && d->reply.getEvent().isPlan() && d->reply.getEvent().getPlan().getStages().size() == 3)
      return true;
  }
  return false;
}

// Sends `count` hostile messages: random bytes, a valid message cut short, a header followed by
// too many frames, and frames past the socket's size cap.
void sendGarbage(zmq::socket_t& socket, std::mt19937_64& rng, int count, const zmq::message_t& valid) {
  std::uniform_int_distribution<int> kind(0, 3), length(0, 4096), byte(0, 255);
  for (int i = 0; i < count; ++i) {
    switch (kind(rng)) {
      case 0: {  // random bytes, maybe several frames
        int frames = std::uniform_int_distribution<int>(1, 4)(rng);
        for (int f = 0; f < frames; ++f) {
          std::string bytes(static_cast<size_t>(length(rng)), '\0');
          for (char& c : bytes) c = static_cast<char>(byte(rng));
          socket.send(zmq::buffer(bytes), f + 1 < frames ? zmq::send_flags::sndmore : zmq::send_flags::dontwait);
        }
        break;
      }
      case 1: {  // a valid message, truncated or with a flipped byte
        std::string bytes(static_cast<const char*>(valid.data()), valid.size());
        if (std::bernoulli_distribution(0.5)(rng)) bytes.resize(static_cast<size_t>(length(rng)) % (bytes.size() + 1));
        else if (!bytes.empty()) bytes[static_cast<size_t>(length(rng)) % bytes.size()] ^= static_cast<char>(1 + byte(rng) % 255);
        socket.send(zmq::buffer(bytes), zmq::send_flags::dontwait);
        break;
      }
      case 2: {  // far more frames than any message has
        for (int f = 0; f < 200; ++f) socket.send(zmq::buffer("x", 1), f + 1 < 200 ? zmq::send_flags::sndmore : zmq::send_flags::dontwait);
        break;
      }
      default: {  // a valid header claiming tensors that do not follow
        zmq::message_t copy(valid.data(), valid.size());
        socket.send(copy, zmq::send_flags::sndmore);
        socket.send(zmq::buffer(std::string(static_cast<size_t>(length(rng)), 'z')), zmq::send_flags::dontwait);
        break;
      }
    }
  }
}

}  // namespace

TEST_CASE("hostile peers are refused or dropped, and the fleet keeps serving correct results") {
  Result<std::unique_ptr<FleetHarness>> started = FleetHarness::start(TOPOLOGY);
  REQUIRE_MESSAGE(started.ok(), started.error().message);
  FleetHarness& fleet = **started;
  zmq::context_t context;
  auto connect = [&] {
    Result<std::unique_ptr<OperatorClient>> c =
        OperatorClient::connect(context, fleet.operatorEndpoint(), fleet.keys("operator"), fleet.daemonPublicKey());
    REQUIRE_MESSAGE(c.ok(), c.error().message << "\n" << fleet.logTail("daemon"));
    return std::move(*c);
  };
  std::unique_ptr<OperatorClient> watcher = connect();
  watcher->send([](wire::OperatorRequest::Builder r) {
    auto w = r.initWatch();
    w.setPlans(true);
    w.setAgents(true);
  });
  for (const char* name : {"a", "b", "c"}) REQUIRE(fleet.startAgent(name).ok());
  REQUIRE_MESSAGE(waitForPlanEvent(*watcher), fleet.logTail("daemon"));

  SUBCASE("an agent whose key is not in the topology is refused and gets no plan") {
    // A second "c" with the intruder's key pair.
    std::filesystem::create_directories(fleet.dir() / "intruder-keys");
    REQUIRE(proto::writeKeyFiles(fleet.keys("intruder"), (fleet.dir() / "intruder-keys").string(), "c", false).ok());
    REQUIRE(proto::writeKeyFiles({fleet.keys("daemon").publicKey, fleet.keys("daemon").secretKey},
                                 (fleet.dir() / "intruder-keys").string(), "daemon", false).ok());
    fleet.killAgent("c", SIGTERM);
    bool down = false;  // the daemon notices c is gone before the impostor knocks
    for (auto deadline = std::chrono::steady_clock::now() + 20s; !down && std::chrono::steady_clock::now() < deadline;) {
      std::optional<OperatorReply> reply = watcher->receive(1s);
      if (!reply) continue;
      Result<DecodedReply> d = decodeReply(*reply);
      down = d && d->reply.isEvent() && d->reply.getEvent().isAgentDown() &&
             std::string(d->reply.getEvent().getAgentDown().cStr()) == "c";
    }
    REQUIRE_MESSAGE(down, fleet.logTail("daemon"));
    REQUIRE(fleet.startAgent("c", "intruder-keys").ok());
    std::string expected = *proto::keyFingerprint(fleet.keys("intruder").publicKey);
    bool refused = false;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!refused && std::chrono::steady_clock::now() < deadline) {
      std::optional<OperatorReply> reply = watcher->receive(1s);
      if (!reply) continue;
      Result<DecodedReply> d = decodeReply(*reply);
      REQUIRE(d.ok());
      if (d->reply.isEvent() && d->reply.getEvent().isRefusal())
        refused = std::string(d->reply.getEvent().getRefusal().getFingerprint().cStr()) == expected;
      // The intruder must never be admitted as c.
      CHECK_FALSE((d->reply.isEvent() && d->reply.getEvent().isAgentUp() &&
                   std::string(d->reply.getEvent().getAgentUp().cStr()) == "c"));
    }
    CHECK_MESSAGE(refused, "no refusal with the intruder's fingerprint " << expected << "\n" << fleet.logTail("daemon"));
    Result<OperatorReply> status = connect()->call([](wire::OperatorRequest::Builder r) { r.setStatus(); });
    REQUIRE(status.ok());
    Result<DecodedReply> d = decodeReply(*status);
    REQUIRE(d.ok());
    CHECK(d->reply.getStatus().getAgentsOnline() == 2);
    CHECK(d->reply.getStatus().getRefusedConnections() >= 1);
  }

  SUBCASE("clients without CURVE get nothing") {
    for (const std::string& endpoint : {fleet.operatorEndpoint(), fleet.controlEndpoint()}) {
      zmq::socket_t plain(context, zmq::socket_type::dealer);
      plain.set(zmq::sockopt::linger, 0);
      plain.connect(endpoint);
      capnp::MallocMessageBuilder hello;
      auto h = hello.initRoot<wire::ControlMessage>().initHello();
      h.setProtocolVersion(wire::PROTOCOL_VERSION);
      h.setRole(wire::Hello::Role::OPERATOR);
      plain.send(proto::encodeMessage(hello), zmq::send_flags::dontwait);
      zmq::pollitem_t item{plain.handle(), 0, ZMQ_POLLIN, 0};
      CHECK(zmq::poll(&item, 1, 2s) == 0);  // no handshake, so no reply ever
    }
  }

  SUBCASE("thousands of hostile messages are dropped; results stay correct") {
    std::mt19937_64 rng(2026);
    // A valid-looking control message to mutate.
    capnp::MallocMessageBuilder sample;
    auto hb = sample.initRoot<wire::ControlMessage>().initHeartbeat();
    hb.setSequence(7);
    zmq::message_t valid = proto::encodeMessage(sample);

    // The operator socket, as an admitted operator (after hello) ...
    std::unique_ptr<OperatorClient> hostile = connect();
    sendGarbage(hostile->socket(), rng, 3000, valid);
    // ... and the control socket with an agent's key (a second connection of agent a).
    Result<zmq::socket_t> control = proto::makeCurveClient(context, zmq::socket_type::dealer, fleet.keys("a"),
                                                           fleet.daemonPublicKey());
    REQUIRE(control.ok());
    control->connect(fleet.controlEndpoint());
    sendGarbage(*control, rng, 3000, valid);
    // ... and agent b's data socket, as b's plan peer a.
    Result<OperatorReply> agents = connect()->call([](wire::OperatorRequest::Builder r) { r.setAgents(); });
    REQUIRE(agents.ok());
    Result<DecodedReply> list = decodeReply(*agents);
    REQUIRE(list.ok());
    std::string dataEndpoint;
    for (auto a : list->reply.getAgents())
      if (std::string(a.getName().cStr()) == "b") dataEndpoint = a.getDataEndpoint().cStr();
    REQUIRE_FALSE(dataEndpoint.empty());
    Result<zmq::socket_t> data = proto::makeCurveClient(context, zmq::socket_type::dealer, fleet.keys("a"),
                                                        fleet.keys("b").publicKey);
    REQUIRE(data.ok());
    data->connect(dataEndpoint);
    capnp::MallocMessageBuilder activations;
    auto dm = activations.initRoot<wire::DataMessage>();
    dm.setVersion(wire::PROTOCOL_VERSION);
    dm.setRequestId(1);
    dm.setEpoch(1);
    dm.initActivations().setStage(1);
    sendGarbage(*data, rng, 3000, proto::encodeMessage(activations));

    // Still serving, and right.
    Result<config::ModelBundle> bundle = config::loadBundle(std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-small", true);
    REQUIRE(bundle.ok());
    Result<std::unique_ptr<Session>> session = Session::create(bundle->graph);
    REQUIRE(session.ok());
    Result<Tensor> input = readNpy(std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-small/sample.npy");
    REQUIRE(input.ok());
    Tensor expected = (*(*session)->run({*input}))[0];
    std::unique_ptr<OperatorClient> op = connect();
    for (int i = 0; i < 20; ++i) op->infer(*input);
    for (int got = 0; got < 20;) {
      std::optional<OperatorReply> reply = op->receive(20s);
      REQUIRE_MESSAGE(reply, "no result after the flood\n" << fleet.logTail("daemon") << fleet.logTail("b"));
      Result<DecodedReply> d = decodeReply(*reply);
      REQUIRE(d.ok());
      REQUIRE_MESSAGE(d->reply.isInferResult(), (d->reply.isError() ? d->reply.getError().cStr() : "not a result"));
      std::span<const std::byte> bytes(static_cast<const std::byte*>(reply->frames[1].data()), reply->frames[1].size());
      Result<proto::WireTensor> out = proto::decodeTensor(d->reply.getInferResult().getTensors()[0], bytes, {});
      REQUIRE(out.ok());
      CHECK(out->tensor.identical(expected));
      ++got;
    }
    Result<OperatorReply> status = op->call([](wire::OperatorRequest::Builder r) { r.setStatus(); });
    REQUIRE(status.ok());
    Result<DecodedReply> d = decodeReply(*status);
    REQUIRE(d.ok());
    CHECK(d->reply.getStatus().getDroppedMessages() >= 1000);
    CHECK(d->reply.getStatus().getAgentsOnline() == 3);
    CHECK(fleet.daemon()->running());
  }
}

}  // namespace cleave::testing

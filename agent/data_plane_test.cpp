// The data plane between two agents in one process (two ZeroMQ contexts, CURVE on 127.0.0.1):
// messages are acknowledged, and a connection whose acks stop coming is noticed, counted, rebuilt
// and its unacknowledged messages sent again. Time is the test's: tick() is handed a clock moved
// past the ack wait, so nothing here waits for a timer.
#include "agent/data_plane.h"

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <doctest/doctest.h>

#include <map>

#include "proto/key_files.h"

namespace cleave::agent {
namespace {

using namespace std::chrono_literals;

// Records what arrives; every stage is taken as one of an epoch still loading (decoded against
// the limits only), which is all the data plane needs from its owner here.
class RecordingHandler : public DataHandler {
 public:
  StageLookup lookupStage(uint64_t, uint32_t) override { return {StageStatus::FutureEpoch, nullptr}; }
  void onActivations(proto::TensorMessage message, const std::string&) override { ++received[message.requestId]; }
  void onResult(proto::TensorMessage, const std::string&) override {}
  void onFailure(uint64_t, uint64_t, wire::Failure::Reason, const std::string&, const std::string&) override {}
  std::map<uint64_t, int> received;  // request id -> copies
};

// One agent's side: its own context, ZAP handler (admitting `peerKey`) and data plane.
struct Side {
  zmq::context_t context;
  std::optional<proto::ZapAuthenticator> zap;
  std::unique_ptr<DataPlane> plane;
  proto::CurveKeyPair keys;
  RecordingHandler handler;

  Side(const std::string& name, const proto::CurveKeyPair& own) : keys(own) {
    Result<proto::ZapAuthenticator> z = proto::ZapAuthenticator::create(context);
    REQUIRE(z.ok());
    zap.emplace(std::move(*z));
    auto log = std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::null_sink_mt>());
    Result<std::unique_ptr<DataPlane>> p =
        DataPlane::create(*zap, keys, name, "tcp://127.0.0.1:*", "", proto::TensorLimits{}, log);
    REQUIRE_MESSAGE(p.ok(), (p.ok() ? "" : p.error().message));
    plane = std::move(*p);
  }
  // One turn of an agent's loop: ZAP, the plane's sockets, its timers.
  void turn(std::chrono::milliseconds wait) {
    std::vector<zmq::pollitem_t> items{{zap->socket().handle(), 0, ZMQ_POLLIN, 0}};
    plane->addPollItems(items);
    zmq::poll(items.data(), items.size(), wait);
    if (items[0].revents & ZMQ_POLLIN) zap->handlePending();
    plane->handlePolled(std::span<const zmq::pollitem_t>(items).subspan(1), handler);
    plane->tick(Clock::now());
  }
};

proto::TensorMessage activations(uint64_t requestId) {
  // Built whole: GCC 12 reports a false -Wrestrict for `m.origin = "a"` (its bug 105329).
  proto::TensorMessage m{proto::TensorMessageKind::Activations, requestId, 1, 1, std::string("a"), 0, {}};
  m.tensors.push_back(proto::WireTensor{"x", Tensor::fromVector<float>({1, 4}, {1, 2, 3, 4}), std::nullopt, 1, 0});
  return m;
}

// Turns both loops until `done` holds; false after 10 s of turns (a fault, not slowness: each
// step takes milliseconds on loopback).
template <typename Done>
bool turnUntil(Side& a, Side& b, Done done) {
  const auto deadline = Clock::now() + 10s;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    a.turn(5ms);
    b.turn(5ms);
  }
  return true;
}

}  // namespace

TEST_CASE("an overdue ack rebuilds the connection and sends the message again") {
  Result<proto::CurveKeyPair> aKeys = proto::generateKeyPair(), bKeys = proto::generateKeyPair();
  REQUIRE((aKeys.ok() && bKeys.ok()));
  Side a("a", *aKeys), b("b", *bKeys);
  REQUIRE(b.zap->allow(aKeys->publicKey).ok());
  REQUIRE(a.zap->allow(bKeys->publicKey).ok());
  Result<proto::CurveKey> aPublic = proto::decodeZ85Key(aKeys->publicKey), bPublic = proto::decodeZ85Key(bKeys->publicKey);
  REQUIRE((aPublic.ok() && bPublic.ok()));
  a.plane->setPeers({{"b", proto::PeerSpec{"b", *bPublic, b.plane->boundEndpoint()}}});
  b.plane->setPeers({{"a", proto::PeerSpec{"a", *aPublic, a.plane->boundEndpoint()}}});

  // A link that moves: sent, received, acknowledged; no stall however late the clock reads.
  REQUIRE(a.plane->sendTensorMessage("b", activations(1)).ok());
  REQUIRE(turnUntil(a, b, [&] { return b.handler.received[1] == 1 && a.plane->unackedCount() == 0; }));
  a.plane->tick(Clock::now() + DataPlane::MAX_ACK_WAIT);
  CHECK(a.plane->counters().stalls == 0);

  // b stops reading (as a peer whose connection went dead would): request 2 is never acked.
  REQUIRE(a.plane->sendTensorMessage("b", activations(2)).ok());
  for (int i = 0; i < 5; ++i) a.turn(2ms);
  REQUIRE(a.plane->unackedCount() == 1);
  a.plane->tick(Clock::now() + DataPlane::MIN_ACK_WAIT / 2);
  CHECK(a.plane->counters().stalls == 0);  // not overdue yet
  a.plane->tick(Clock::now() + DataPlane::MIN_ACK_WAIT + 100ms);
  CHECK(a.plane->counters().stalls == 1);
  CHECK(a.plane->counters().resent == 1);

  // b reads again: the copy sent over the new connection is acknowledged, nothing stays unacked
  // (b may see request 2 twice, the first copy having reached it before; the origin dedups).
  REQUIRE(turnUntil(a, b, [&] { return b.handler.received[2] >= 1 && a.plane->unackedCount() == 0; }));
  CHECK(b.handler.received[2] <= 2);
  a.plane->tick(Clock::now() + DataPlane::MAX_ACK_WAIT);
  CHECK(a.plane->counters().stalls == 1);
}

}  // namespace cleave::agent

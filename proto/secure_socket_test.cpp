#include "proto/secure_socket.h"

#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>

#include <zmq_addon.hpp>

namespace cleave::proto {
namespace {

using namespace std::chrono_literals;

// Upper bound of every wait; reached only when a test is failing.
constexpr auto DEADLINE = 10s;
constexpr const char* DOMAIN = "cleave-test";

// Server-side handshake outcomes, as libzmq's socket monitor reports them.
struct ServerEvents {
  int succeeded = 0;
  int failedAuth = 0;      // ZAP said no
  int failedProtocol = 0;  // mechanism mismatch and other handshake errors
};

// A CURVE ROUTER bound on an ephemeral loopback port, its ZAP handler, and a monitor on it. The
// test's loop (pumpUntil) plays the owner's poll loop: it answers ZAP requests, collects
// monitor events and received messages.
class Server {
 public:
  explicit Server(zmq::context_t& context) : keys_(*generateKeyPair()), zap_(ZapAuthenticator::create(context).value()) {
    socket_ = makeCurveServer(zap_, zmq::socket_type::router, keys_.secretKey, DOMAIN).value();
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
    const std::string monitorEndpoint = "inproc://monitor-" + std::to_string(reinterpret_cast<uintptr_t>(this));
    REQUIRE(zmq_socket_monitor(socket_.handle(), monitorEndpoint.c_str(),
                               ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                   ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) == 0);
    monitor_ = zmq::socket_t(context, zmq::socket_type::pair);
    monitor_.set(zmq::sockopt::linger, 0);
    monitor_.connect(monitorEndpoint);
  }
  ~Server() { zmq_socket_monitor(socket_.handle(), nullptr, 0); }

  const CurveKeyPair& keys() const { return keys_; }
  const std::string& endpoint() const { return endpoint_; }
  ZapAuthenticator& zap() { return zap_; }
  zmq::socket_t& socket() { return socket_; }
  const ServerEvents& events() const { return events_; }
  std::vector<std::vector<zmq::message_t>>& received() { return received_; }

  // Polls the server, its ZAP handler, its monitor and `extra` until done() or the deadline;
  // returns done().
  bool pumpUntil(const std::function<bool()>& done, zmq::socket_t* extra = nullptr,
                 std::vector<zmq::message_t>* extraReceived = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + DEADLINE;
    while (!done()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return false;
      std::vector<zmq::pollitem_t> items = {{socket_.handle(), 0, ZMQ_POLLIN, 0},
                                            {zap_.socket().handle(), 0, ZMQ_POLLIN, 0},
                                            {monitor_.handle(), 0, ZMQ_POLLIN, 0}};
      if (extra != nullptr) items.push_back({extra->handle(), 0, ZMQ_POLLIN, 0});
      zmq::poll(items, left);
      if (items[0].revents & ZMQ_POLLIN) {
        std::vector<zmq::message_t> message;
        (void)zmq::recv_multipart(socket_, std::back_inserter(message));
        received_.push_back(std::move(message));
      }
      if (items[1].revents & ZMQ_POLLIN) zap_.handlePending();
      if (items[2].revents & ZMQ_POLLIN) readMonitorEvent();
      if (extra != nullptr && (items[3].revents & ZMQ_POLLIN))
        (void)zmq::recv_multipart(*extra, std::back_inserter(*extraReceived));
    }
    return true;
  }

 private:
  void readMonitorEvent() {
    std::vector<zmq::message_t> event;
    (void)zmq::recv_multipart(monitor_, std::back_inserter(event));
    REQUIRE(event.size() == 2);
    uint16_t id = 0;
    std::memcpy(&id, event[0].data(), sizeof id);
    if (id == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) ++events_.succeeded;
    if (id == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) ++events_.failedAuth;
    if (id == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL || id == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
      ++events_.failedProtocol;
  }

  CurveKeyPair keys_;
  ZapAuthenticator zap_;  // declared before the server socket: it must outlive it
  zmq::socket_t socket_;
  zmq::socket_t monitor_;
  std::string endpoint_;
  ServerEvents events_;
  std::vector<std::vector<zmq::message_t>> received_;
};

zmq::socket_t curveClient(zmq::context_t& context, const CurveKeyPair& keys, const Server& server) {
  zmq::socket_t client = makeCurveClient(context, zmq::socket_type::dealer, keys, server.keys().publicKey).value();
  client.connect(server.endpoint());
  return client;
}

bool nothingWaiting(zmq::socket_t& socket) {
  std::vector<zmq::pollitem_t> items = {{socket.handle(), 0, ZMQ_POLLIN, 0}};
  return zmq::poll(items, 0ms) == 0;
}

TEST_CASE("a client with an allowed key exchanges messages with a CURVE server over loopback TCP") {
  zmq::context_t context;
  Server server(context);
  CurveKeyPair clientKeys = *generateKeyPair();
  REQUIRE(server.zap().allow(clientKeys.publicKey).ok());
  zmq::socket_t client = curveClient(context, clientKeys, server);
  client.send(zmq::str_buffer("hello"));

  REQUIRE(server.pumpUntil([&] { return !server.received().empty(); }));
  std::vector<zmq::message_t>& request = server.received()[0];
  REQUIRE(request.size() == 2);  // routing id, payload
  CHECK(request[1].to_string() == "hello");
  // The key that authenticated travels with the frames, for the daemon's Register check.
  CHECK(std::string(request[1].gets("User-Id")) == clientKeys.publicKey);
  CHECK(server.zap().acceptedCount() == 1);
  CHECK(server.zap().refusedCount() == 0);
  CHECK(server.events().succeeded == 1);

  server.socket().send(request[0], zmq::send_flags::sndmore);
  server.socket().send(zmq::str_buffer("world"));
  std::vector<zmq::message_t> reply;
  REQUIRE(server.pumpUntil([&] { return !reply.empty(); }, &client, &reply));
  CHECK(reply[0].to_string() == "world");
}

TEST_CASE("a client with an unknown key gets nothing through, and the refusal is recorded with its fingerprint") {
  zmq::context_t context;
  Server server(context);
  CurveKeyPair stranger = *generateKeyPair();
  REQUIRE(server.zap().allow(generateKeyPair()->publicKey).ok());  // someone else
  zmq::socket_t client = curveClient(context, stranger, server);
  client.send(zmq::str_buffer("let me in"));

  // The handshake fails at ZAP: nothing can arrive on that connection after this event.
  REQUIRE(server.pumpUntil([&] { return server.events().failedAuth > 0; }));
  CHECK(server.received().empty());
  CHECK(server.events().succeeded == 0);
  CHECK(nothingWaiting(client));
  CHECK(server.zap().acceptedCount() == 0);
  REQUIRE(server.zap().refusedCount() >= 1);  // the client may retry before we look
  std::vector<ZapRefusal> refusals = server.zap().takeRefusals();
  REQUIRE(!refusals.empty());
  CHECK(refusals[0].fingerprint == *keyFingerprint(std::string_view(stranger.publicKey)));
  CHECK(refusals[0].mechanism == "CURVE");
  CHECK(refusals[0].reason == "unknown key");
  CHECK(refusals[0].domain == DOMAIN);
  CHECK(refusals[0].address == "127.0.0.1");
  CHECK(server.zap().takeRefusals().size() <= 1);  // taken once (a retry may have added one)
}

TEST_CASE("a plain (non-CURVE) client gets nothing through, and never reaches ZAP") {
  zmq::context_t context;
  Server server(context);
  zmq::socket_t plain(context, zmq::socket_type::dealer);
  plain.set(zmq::sockopt::linger, 0);
  plain.connect(server.endpoint());
  plain.send(zmq::str_buffer("no security"));

  REQUIRE(server.pumpUntil([&] { return server.events().failedProtocol > 0; }));
  CHECK(server.received().empty());
  CHECK(server.events().succeeded == 0);
  CHECK(server.zap().acceptedCount() == 0);
  CHECK(server.zap().refusedCount() == 0);  // the mechanism mismatch is caught before ZAP
  CHECK(nothingWaiting(plain));
}

TEST_CASE("a server whose ZAP handler is gone refuses every client instead of admitting all") {
  // libzmq on its own admits any CURVE client when no handler is bound; makeCurveServer sets
  // ZMQ_ZAP_ENFORCE_DOMAIN so that a handler destroyed too early fails closed.
  zmq::context_t context;
  auto zap = std::make_unique<ZapAuthenticator>(ZapAuthenticator::create(context).value());
  CurveKeyPair serverKeys = *generateKeyPair();
  CurveKeyPair clientKeys = *generateKeyPair();
  REQUIRE(zap->allow(clientKeys.publicKey).ok());
  zmq::socket_t server = makeCurveServer(*zap, zmq::socket_type::router, serverKeys.secretKey, DOMAIN).value();
  server.bind("tcp://127.0.0.1:*");
  REQUIRE(zmq_socket_monitor(server.handle(), "inproc://monitor-no-zap",
                             ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) == 0);
  zmq::socket_t monitor(context, zmq::socket_type::pair);
  monitor.set(zmq::sockopt::linger, 0);
  monitor.connect("inproc://monitor-no-zap");
  zap.reset();

  zmq::socket_t client = makeCurveClient(context, zmq::socket_type::dealer, clientKeys, serverKeys.publicKey).value();
  client.connect(server.get(zmq::sockopt::last_endpoint));
  client.send(zmq::str_buffer("anyone home?"));
  std::optional<uint16_t> outcome;
  bool received = false;
  const auto deadline = std::chrono::steady_clock::now() + DEADLINE;
  while (!outcome && std::chrono::steady_clock::now() < deadline) {
    std::vector<zmq::pollitem_t> items = {{server.handle(), 0, ZMQ_POLLIN, 0}, {monitor.handle(), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 100ms);
    if (items[0].revents & ZMQ_POLLIN) received = true;
    if (items[1].revents & ZMQ_POLLIN) {
      std::vector<zmq::message_t> event;
      (void)zmq::recv_multipart(monitor, std::back_inserter(event));
      uint16_t id = 0;
      std::memcpy(&id, event.at(0).data(), sizeof id);
      outcome = id;
    }
  }
  REQUIRE(outcome.has_value());
  CHECK(*outcome != ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
  CHECK_FALSE(received);
  zmq_socket_monitor(server.handle(), nullptr, 0);
}

TEST_CASE("a ZAP handler that is destroyed gives its endpoint up at once") {
  // A closed socket keeps its inproc endpoint until libzmq's reaper thread gets to it; a
  // handshake that connected in between waited forever for a reply (a flake of the test above).
  // Binding again at once shows the endpoint is really gone.
  zmq::context_t context;
  for (int round = 0; round < 3; ++round) {
    Result<ZapAuthenticator> zap = ZapAuthenticator::create(context);
    if (!zap) FAIL("round ", round, ": ", zap.error().message);
  }
  // Moving one onto another gives up the endpoint of the one overwritten.
  zmq::context_t other;  // declared before `first`, which ends up holding a socket of it
  ZapAuthenticator first = ZapAuthenticator::create(context).value();
  first = ZapAuthenticator::create(other).value();
  CHECK(ZapAuthenticator::create(context).ok());
}

TEST_CASE("revoking a key refuses new connections with it") {
  zmq::context_t context;
  Server server(context);
  CurveKeyPair keys = *generateKeyPair();
  REQUIRE(server.zap().allow(keys.publicKey).ok());
  CHECK(server.zap().isAllowed(keys.publicKey));
  {
    zmq::socket_t first = curveClient(context, keys, server);
    first.send(zmq::str_buffer("one"));
    REQUIRE(server.pumpUntil([&] { return server.received().size() == 1; }));
  }
  REQUIRE(server.zap().revoke(keys.publicKey).ok());
  CHECK_FALSE(server.zap().isAllowed(keys.publicKey));
  zmq::socket_t second = curveClient(context, keys, server);
  second.send(zmq::str_buffer("two"));
  REQUIRE(server.pumpUntil([&] { return server.events().failedAuth > 0; }));
  CHECK(server.received().size() == 1);
  CHECK(server.zap().takeRefusals().at(0).fingerprint == *keyFingerprint(std::string_view(keys.publicKey)));
}

TEST_CASE("the allow-list takes only valid keys, and setAllowed is all or nothing") {
  zmq::context_t context;
  ZapAuthenticator zap = ZapAuthenticator::create(context).value();
  std::string a = generateKeyPair()->publicKey;
  std::string b = generateKeyPair()->publicKey;
  CHECK(zap.allow("not a key").error().message == "allowed key: expected 40 Z85 characters, found 9");
  CHECK_FALSE(zap.revoke("x").ok());
  REQUIRE(zap.setAllowed({a, b}).ok());
  CHECK(zap.allowedCount() == 2);
  CHECK_FALSE(zap.setAllowed({a, "bogus"}).ok());
  CHECK(zap.allowedCount() == 2);
  REQUIRE(zap.setAllowed({b}).ok());
  CHECK_FALSE(zap.isAllowed(a));
  CHECK(zap.isAllowed(b));
  CHECK_FALSE(zap.isAllowed("garbage"));
}

TEST_CASE("one ZAP handler per context; servers and clients refuse bad keys") {
  zmq::context_t context;
  ZapAuthenticator zap = ZapAuthenticator::create(context).value();
  CHECK(ZapAuthenticator::create(context).error().message.starts_with("cannot bind the ZAP handler at inproc://zeromq.zap.01"));
  CurveKeyPair keys = *generateKeyPair();
  CHECK(makeCurveServer(zap, zmq::socket_type::router, "short", DOMAIN).error().message ==
        "server secret key: expected 40 Z85 characters, found 5");
  CHECK(makeCurveServer(zap, zmq::socket_type::router, keys.secretKey, "").error().message ==
        "a CURVE server needs a ZAP domain");
  CHECK(makeCurveServer(zap, zmq::socket_type::router, keys.secretKey, DOMAIN).ok());
  CurveKeyPair mixed{generateKeyPair()->publicKey, keys.secretKey};
  CHECK(makeCurveClient(context, zmq::socket_type::dealer, mixed, keys.publicKey).error().message ==
        "own public key does not belong to own secret key");
  CHECK(makeCurveClient(context, zmq::socket_type::dealer, keys, "x").error().message ==
        "server public key: expected 40 Z85 characters, found 1");
  CHECK(makeCurveClient(context, zmq::socket_type::dealer, keys, keys.publicKey).ok());
}

// Talks RFC 27 to the handler directly, as libzmq would: a REQ socket on the ZAP endpoint.
class ZapPeer {
 public:
  explicit ZapPeer(zmq::context_t& context) : socket_(context, zmq::socket_type::req) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.connect(ZapAuthenticator::ENDPOINT);
  }
  void send(const std::vector<std::string>& frames) {
    for (size_t i = 0; i < frames.size(); ++i)
      socket_.send(zmq::buffer(frames[i]), i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
  std::vector<std::string> reply(ZapAuthenticator& zap) {
    std::vector<zmq::message_t> frames;
    const auto deadline = std::chrono::steady_clock::now() + DEADLINE;
    while (frames.empty() && std::chrono::steady_clock::now() < deadline) {
      std::vector<zmq::pollitem_t> items = {{zap.socket().handle(), 0, ZMQ_POLLIN, 0},
                                            {socket_.handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 100ms);
      if (items[0].revents & ZMQ_POLLIN) zap.handlePending();
      if (items[1].revents & ZMQ_POLLIN) (void)zmq::recv_multipart(socket_, std::back_inserter(frames));
    }
    std::vector<std::string> out;
    for (auto& f : frames) out.push_back(f.to_string());
    return out;
  }

 private:
  zmq::socket_t socket_;
};

TEST_CASE("ZAP requests: only CURVE with an allowed key gets 200; malformed requests get 500") {
  zmq::context_t context;
  ZapAuthenticator zap = ZapAuthenticator::create(context).value();
  ZapPeer peer(context);
  CurveKey allowed = *decodeZ85Key(generateKeyPair()->publicKey);
  REQUIRE(zap.allow(encodeZ85Key(allowed)).ok());
  const std::string raw(reinterpret_cast<const char*>(allowed.data()), allowed.size());

  peer.send({"1.0", "r1", "d", "10.0.0.9", "", "CURVE", raw});
  CHECK(peer.reply(zap) == std::vector<std::string>{"1.0", "r1", "200", "OK", encodeZ85Key(allowed), ""});

  peer.send({"1.0", "r2", "d", "10.0.0.9", "", "NULL"});
  CHECK(peer.reply(zap) == std::vector<std::string>{"1.0", "r2", "400", "mechanism NULL not accepted", "", ""});
  peer.send({"1.0", "r3", "d", "10.0.0.9", "", "PLAIN", "user", "password"});
  CHECK(peer.reply(zap)[2] == "400");
  peer.send({"1.0", "r4", "d", "10.0.0.9", "", "CURVE", "short"});
  CHECK(peer.reply(zap) == std::vector<std::string>{"1.0", "r4", "400", "malformed CURVE credentials", "", ""});
  peer.send({"2.0", "r5", "d", "a", "", "CURVE", raw});
  CHECK(peer.reply(zap) == std::vector<std::string>{"1.0", "r5", "500", "malformed ZAP request", "", ""});
  peer.send({"1.0"});
  CHECK(peer.reply(zap) == std::vector<std::string>{"1.0", "", "500", "malformed ZAP request", "", ""});

  CHECK(zap.acceptedCount() == 1);
  CHECK(zap.refusedCount() == 5);
  std::vector<ZapRefusal> refusals = zap.takeRefusals();
  REQUIRE(refusals.size() == 5);
  CHECK(refusals[0].mechanism == "NULL");
  CHECK(refusals[0].fingerprint == "-");
  CHECK(refusals[0].address == "10.0.0.9");
}

TEST_CASE("refusals are kept up to a bound but all are counted") {
  zmq::context_t context;
  ZapAuthenticator zap = ZapAuthenticator::create(context).value();
  ZapPeer peer(context);
  const size_t total = ZapAuthenticator::MAX_KEPT_REFUSALS + 6;
  for (size_t i = 0; i < total; ++i) {
    CurveKey key = *decodeZ85Key(generateKeyPair()->publicKey);
    peer.send({"1.0", std::to_string(i), "d", "a", "", "CURVE", std::string(reinterpret_cast<const char*>(key.data()), 32)});
    REQUIRE(peer.reply(zap).at(2) == "400");
  }
  CHECK(zap.refusedCount() == total);
  std::vector<ZapRefusal> refusals = zap.takeRefusals();
  CHECK(refusals.size() == ZapAuthenticator::MAX_KEPT_REFUSALS);
  CHECK(zap.takeRefusals().empty());
}

}  // namespace
}  // namespace cleave::proto

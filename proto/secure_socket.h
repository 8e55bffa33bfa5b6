// ZeroMQ sockets that only speak CURVE, and the ZAP handler that decides which public keys a
// server admits. The daemon admits the agents and operators its topology lists; an agent admits
// the data-plane peers of its current plan. A refused key is recorded with its fingerprint so
// the owner can log and count it.
#pragma once

#include <cstdint>
#include <deque>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <zmq.hpp>

#include "proto/key_files.h"
#include "runtime/result.h"

namespace cleave::proto {

struct SocketOptions {
  // Frames larger than this are refused by libzmq before it allocates them (ZMQ_MAXMSGSIZE; the
  // connection is dropped). Set it to the largest frame the protocol allows on the socket.
  int64_t maxFrameBytes = 64ll << 20;
  // Linger 0: pending messages are dropped on close instead of holding shutdown until a peer
  // that may never complete its handshake takes them. The protocol acknowledges what matters
  // (plan acks, results), so nothing relies on linger.
  int lingerMs = 0;
};

// Receives a refused connection: enough to log and count it, never the key itself.
struct ZapRefusal {
  std::string fingerprint;  // keyFingerprint of the offered key; "-" when no CURVE key was offered
  std::string mechanism;    // "CURVE", "NULL", "PLAIN", ...
  std::string address;      // peer IP address as libzmq reports it
  std::string domain;       // ZAP domain of the server socket
  std::string reason;       // "unknown key", "mechanism NULL not accepted", ...
};

// A ZAP (ZeroMQ RFC 27) handler for one zmq::context_t: an inproc REP socket bound at
// inproc://zeromq.zap.01 that answers each authentication request of the context's CURVE
// servers with 200 for an allowed public key and 400 for anything else (an unknown key, any
// mechanism but CURVE).
//
// No hidden thread: the owner puts socket() in its poll set and calls handlePending() when it is
// readable. libzmq runs handshakes on its own I/O threads and waits for the ZAP reply
// asynchronously, so answering from the owner's loop blocks nobody; and because the allow-list
// changes with the owner's state (a new plan, a topology reload), answering on the same thread
// needs no locks and can never race a revocation. The cost: handshakes wait while the loop is
// busy, which the design already forbids (compute never blocks the control loop).
//
// It must outlive every server socket of its context: libzmq admits CURVE clients without
// asking when no handler is bound. Declaring it before the sockets gives that order.
class ZapAuthenticator {
 public:
  static constexpr const char* ENDPOINT = "inproc://zeromq.zap.01";
  static constexpr size_t MAX_KEPT_REFUSALS = 64;     // older ones are dropped, still counted
  static constexpr size_t MAX_REQUESTS_PER_CALL = 64; // so a flood cannot starve the owner's loop

  // Binds the handler; fails when the context already has one.
  static Result<ZapAuthenticator> create(zmq::context_t& context);

  // Admits (or stops admitting) a Z85 public key; an invalid key is an error. Revoking does not
  // cut connections already made, only new handshakes.
  Status allow(std::string_view publicKeyZ85);
  Status revoke(std::string_view publicKeyZ85);
  // Replaces the whole list; on error (any key invalid) nothing changes.
  Status setAllowed(const std::set<std::string>& publicKeysZ85);
  bool isAllowed(std::string_view publicKeyZ85) const;
  size_t allowedCount() const { return allowed_.size(); }

  // Answers the requests waiting now, without blocking; returns how many it answered.
  size_t handlePending();

  // The REP socket, for the owner's poll set.
  zmq::socket_ref socket() { return socket_.get(); }
  zmq::context_t& context() const { return *context_; }

  // Refusals since the last call (at most MAX_KEPT_REFUSALS, oldest dropped first).
  std::vector<ZapRefusal> takeRefusals();
  uint64_t refusedCount() const { return refused_; }
  uint64_t acceptedCount() const { return accepted_; }

 private:
  // The bound REP socket, unbound before it closes. zmq_close hands the socket to libzmq's reaper
  // thread, which takes the endpoint away later; a handshake that connected to the endpoint in
  // between would wait for a reply that never comes, instead of failing closed at once. Unbinding
  // an inproc endpoint takes it away before the call returns.
  class BoundSocket {
   public:
    explicit BoundSocket(zmq::socket_t socket) : socket_(std::move(socket)) {}
    BoundSocket(BoundSocket&&) noexcept = default;
    BoundSocket& operator=(BoundSocket&& other) noexcept;
    BoundSocket(const BoundSocket&) = delete;
    BoundSocket& operator=(const BoundSocket&) = delete;
    ~BoundSocket() { unbind(); }
    zmq::socket_t& get() { return socket_; }

   private:
    void unbind() noexcept;
    zmq::socket_t socket_;
  };

  ZapAuthenticator(zmq::context_t& context, zmq::socket_t socket) : context_(&context), socket_(std::move(socket)) {}
  void answer(std::vector<zmq::message_t>& request);
  void refuse(ZapRefusal refusal);

  zmq::context_t* context_;
  BoundSocket socket_;
  std::set<CurveKey> allowed_;
  std::deque<ZapRefusal> refusals_;
  uint64_t refused_ = 0;
  uint64_t accepted_ = 0;
};

// A CURVE server socket (typically ROUTER) on the authenticator's context, with its Z85 secret
// key and ZAP domain (non-empty; it appears in refusals). Taking the authenticator rather than a
// bare context makes "a server without a ZAP handler" impossible to write. Bind it yourself.
Result<zmq::socket_t> makeCurveServer(ZapAuthenticator& zap, zmq::socket_type type, std::string_view secretKeyZ85,
                                      std::string_view zapDomain, const SocketOptions& options = {});

// A CURVE client socket (typically DEALER) with its own key pair, that talks only to the server
// holding `serverPublicKeyZ85`. Connect it yourself.
Result<zmq::socket_t> makeCurveClient(zmq::context_t& context, zmq::socket_type type, const CurveKeyPair& own,
                                      std::string_view serverPublicKeyZ85, const SocketOptions& options = {});

}  // namespace cleave::proto

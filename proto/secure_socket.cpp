#include "proto/secure_socket.h"

#include <cstring>
#include <iterator>

#include <fmt/format.h>

namespace cleave::proto {
namespace {

// ZMQ_ZAP_ENFORCE_DOMAIN (libzmq >= 4.3, draft API, so not in every zmq.h): with it set, a
// CURVE server whose context has no ZAP handler refuses clients instead of admitting them all.
// ZapAuthenticator's lifetime rule already prevents that state; this is the second lock.
constexpr int ZAP_ENFORCE_DOMAIN_OPTION = 93;

// Requests carry at most 7 frames (RFC 27 with CURVE's one credential); anything longer is
// malformed and the rest is read and dropped.
constexpr size_t MAX_ZAP_FRAMES = 8;

std::string frameText(const zmq::message_t& frame) { return frame.to_string(); }

}  // namespace

Result<ZapAuthenticator> ZapAuthenticator::create(zmq::context_t& context) {
  try {
    zmq::socket_t socket(context, zmq::socket_type::rep);
    socket.set(zmq::sockopt::linger, 0);
    socket.bind(ENDPOINT);
    return ZapAuthenticator(context, std::move(socket));
  } catch (const zmq::error_t& e) {
    return Error{fmt::format("cannot bind the ZAP handler at {}: {}", ENDPOINT, e.what())};
  }
}

ZapAuthenticator::BoundSocket& ZapAuthenticator::BoundSocket::operator=(BoundSocket&& other) noexcept {
  if (this != &other) {
    unbind();
    socket_ = std::move(other.socket_);
  }
  return *this;
}

void ZapAuthenticator::BoundSocket::unbind() noexcept {
  if (socket_) (void)zmq_unbind(socket_.handle(), ENDPOINT);
}

Status ZapAuthenticator::allow(std::string_view publicKeyZ85) {
  Result<CurveKey> key = decodeZ85Key(publicKeyZ85);
  if (!key) return Error{"allowed key: " + key.error().message};
  allowed_.insert(*key);
  return {};
}

Status ZapAuthenticator::revoke(std::string_view publicKeyZ85) {
  Result<CurveKey> key = decodeZ85Key(publicKeyZ85);
  if (!key) return Error{"revoked key: " + key.error().message};
  allowed_.erase(*key);
  return {};
}

Status ZapAuthenticator::setAllowed(const std::set<std::string>& publicKeysZ85) {
  std::set<CurveKey> keys;
  for (const std::string& text : publicKeysZ85) {
    Result<CurveKey> key = decodeZ85Key(text);
    if (!key) return Error{"allowed key: " + key.error().message};
    keys.insert(*key);
  }
  allowed_ = std::move(keys);
  return {};
}

bool ZapAuthenticator::isAllowed(std::string_view publicKeyZ85) const {
  Result<CurveKey> key = decodeZ85Key(publicKeyZ85);
  return key && allowed_.contains(*key);
}

size_t ZapAuthenticator::handlePending() {
  size_t handled = 0;
  while (handled < MAX_REQUESTS_PER_CALL) {
    std::vector<zmq::message_t> request;
    zmq::message_t frame;
    if (!socket_.get().recv(frame, zmq::recv_flags::dontwait)) break;
    // The frames of one message arrive together, so the rest are there already.
    bool more = frame.more();
    request.push_back(std::move(frame));
    while (more) {
      zmq::message_t next;
      (void)socket_.get().recv(next, zmq::recv_flags::none);
      more = next.more();
      if (request.size() < MAX_ZAP_FRAMES) request.push_back(std::move(next));
    }
    answer(request);
    ++handled;
  }
  return handled;
}

void ZapAuthenticator::answer(std::vector<zmq::message_t>& request) {
  // RFC 27 request: version, request id, domain, address, routing id, mechanism, credentials...
  ZapRefusal refusal;
  refusal.fingerprint = std::string("-");
  std::string requestId = request.size() > 1 ? frameText(request[1]) : std::string();
  std::string status("400");
  std::string userId;
  if (request.size() < 6 || frameText(request[0]) != "1.0") {
    status = std::string("500");
    refusal.reason = std::string("malformed ZAP request");
  } else {
    refusal.domain = frameText(request[2]);
    refusal.address = frameText(request[3]);
    refusal.mechanism = frameText(request[5]);
    if (refusal.mechanism != "CURVE") {
      refusal.reason = fmt::format("mechanism {} not accepted", refusal.mechanism);
    } else if (request.size() != 7 || request[6].size() != CURVE_KEY_BYTES) {
      refusal.reason = std::string("malformed CURVE credentials");
    } else {
      CurveKey key{};
      std::memcpy(key.data(), request[6].data(), key.size());
      refusal.fingerprint = keyFingerprint(key);
      if (allowed_.contains(key)) {
        status = std::string("200");
        // The User-Id travels with every frame from this peer (zmq_msg_gets "User-Id"), so the
        // owner can check a Register's key against the key that authenticated.
        userId = encodeZ85Key(key);
      } else {
        refusal.reason = std::string("unknown key");
      }
    }
  }
  const std::string statusText = status == "200" ? std::string("OK") : refusal.reason;
  if (status == "200") {
    ++accepted_;
  } else {
    refuse(std::move(refusal));
  }
  // Reply: version, request id, status code, status text, user id, metadata (empty).
  const std::string frames[] = {"1.0", requestId, status, statusText, userId, ""};
  for (size_t i = 0; i < std::size(frames); ++i) {
    zmq::message_t reply(frames[i].data(), frames[i].size());
    socket_.get().send(reply, i + 1 < std::size(frames) ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

void ZapAuthenticator::refuse(ZapRefusal refusal) {
  ++refused_;
  if (refusals_.size() == MAX_KEPT_REFUSALS) refusals_.pop_front();
  refusals_.push_back(std::move(refusal));
}

std::vector<ZapRefusal> ZapAuthenticator::takeRefusals() {
  std::vector<ZapRefusal> out(std::make_move_iterator(refusals_.begin()), std::make_move_iterator(refusals_.end()));
  refusals_.clear();
  return out;
}

Result<zmq::socket_t> makeCurveServer(ZapAuthenticator& zap, zmq::socket_type type, std::string_view secretKeyZ85,
                                      std::string_view zapDomain, const SocketOptions& options) {
  if (Result<CurveKey> key = decodeZ85Key(secretKeyZ85); !key) return Error{"server secret key: " + key.error().message};
  if (zapDomain.empty()) return Error{"a CURVE server needs a ZAP domain"};
  try {
    zmq::socket_t socket(zap.context(), type);
    socket.set(zmq::sockopt::linger, options.lingerMs);
    socket.set(zmq::sockopt::maxmsgsize, options.maxFrameBytes);
    socket.set(zmq::sockopt::zap_domain, std::string(zapDomain));
    socket.set(zmq::sockopt::curve_server, true);
    socket.set(zmq::sockopt::curve_secretkey, std::string(secretKeyZ85));
    int enforce = 1;
    // Unsupported (a libzmq without draft options) is fine: see ZAP_ENFORCE_DOMAIN_OPTION.
    (void)zmq_setsockopt(socket.handle(), ZAP_ENFORCE_DOMAIN_OPTION, &enforce, sizeof enforce);
    return socket;
  } catch (const zmq::error_t& e) {
    return Error{fmt::format("cannot make a CURVE server socket: {}", e.what())};
  }
}

Result<zmq::socket_t> makeCurveClient(zmq::context_t& context, zmq::socket_type type, const CurveKeyPair& own,
                                      std::string_view serverPublicKeyZ85, const SocketOptions& options) {
  if (Result<CurveKey> key = decodeZ85Key(serverPublicKeyZ85); !key) return Error{"server public key: " + key.error().message};
  if (Result<CurveKey> key = decodeZ85Key(own.publicKey); !key) return Error{"own public key: " + key.error().message};
  Result<std::string> derived = publicKeyFromSecret(own.secretKey);
  if (!derived) return Error{"own " + derived.error().message};
  if (*derived != own.publicKey) return Error{"own public key does not belong to own secret key"};
  try {
    zmq::socket_t socket(context, type);
    socket.set(zmq::sockopt::linger, options.lingerMs);
    socket.set(zmq::sockopt::maxmsgsize, options.maxFrameBytes);
    socket.set(zmq::sockopt::curve_serverkey, std::string(serverPublicKeyZ85));
    socket.set(zmq::sockopt::curve_publickey, own.publicKey);
    socket.set(zmq::sockopt::curve_secretkey, own.secretKey);
    return socket;
  } catch (const zmq::error_t& e) {
    return Error{fmt::format("cannot make a CURVE client socket: {}", e.what())};
  }
}

}  // namespace cleave::proto

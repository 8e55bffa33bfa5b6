// The data plane of one agent: a CURVE ROUTER that peers send activations and results to
// (admitted by the ZAP allow-list the owner keeps equal to its plan peers), and one CURVE
// DEALER per peer this agent sends to. Everything received is decoded under the protocol's
// limits — stage inputs against the types the stage expects, matched by name — and every
// activations/result message is acknowledged to its sender. Bad messages are dropped and
// counted; a request that cannot be taken gets a `failure` sent to its origin.
//
// Sent tensor messages are kept until their ack arrives. libzmq does not retry a CURVE
// handshake that the server's ZAP refused (the peer may simply not have accepted the plan that
// admits us yet), so a DEALER whose handshake fails is rebuilt after a short backoff and the
// unacknowledged messages are sent again. A receiver may therefore see a message twice; the
// origin deduplicates results by request id.
//
// A connection that stops moving without a failed handshake (a peer restarted on the same
// endpoint and lost what was in flight, a TCP connection stuck) is found the same way: when the
// oldest unacknowledged message's ack is overdue (ackWait: four times what the link estimate
// says it should take, at least MIN_ACK_WAIT (8 s), doubling while it keeps happening) and nothing at
// all was acknowledged on the link meanwhile, the link counts a stall, logs the peer and the
// request, and is rebuilt with every unacknowledged message sent again.
//
// Links are measured here (link_estimator.h): every ack times its message, a tiny probe goes
// ahead of each transfer that finds the link idle (it times the RTT alone), and a link with no
// recent bandwidth sample gets a probe pair (see PROBE_INTERVAL) — so a plan that stopped using
// a link, or uses it only for small messages, still sees it recover. On a link that carries
// requests, the probe waits for the next one and goes right behind it: a probe sent at a random
// moment would hold up the following request for as long as it takes (about 2 ms per request
// on average on the LTE bench, more than the plans there differ by). An
// outgoing link may be shaped in process (link_shaper.h): its messages are held until the
// shaped link would have delivered them, then sent.
#pragma once

#include <spdlog/logger.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>
#include <zmq.hpp>

#include "agent/link_estimator.h"
#include "agent/link_shaper.h"
#include "proto/plan_codec.h"
#include "proto/data.capnp.h"
#include "proto/secure_socket.h"
#include "proto/tensor_frame.h"

namespace cleave::agent {

using Clock = std::chrono::steady_clock;

// What the data plane asks of, and reports to, its owner (the agent).
class DataHandler {
 public:
  enum class StageStatus : uint8_t { Ready, UnknownEpoch, UnknownStage, FutureEpoch };
  struct StageLookup {
    StageStatus status = StageStatus::UnknownEpoch;
    const std::vector<ValueInfo>* inputs = nullptr;  // Ready: the stage's inputs
    bool gathers = false;  // Ready: its inputs come in several messages, any subset in each
  };
  virtual ~DataHandler() = default;

  // Whether this agent runs `stage` under `epoch`. FutureEpoch: an epoch newer than any
  // accepted (its plan may still be loading); such inputs are decoded against limits only.
  virtual StageLookup lookupStage(uint64_t epoch, uint32_t stage) = 0;
  // Inputs for a stage (already acknowledged to the sender).
  virtual void onActivations(proto::TensorMessage message, const std::string& sender) = 0;
  // Outputs of a last stage, for a request this agent originated (already acknowledged).
  virtual void onResult(proto::TensorMessage message, const std::string& sender) = 0;
  // A peer could not take one of this agent's requests.
  virtual void onFailure(uint64_t requestId, uint64_t epoch, wire::Failure::Reason reason, const std::string& detail,
                         const std::string& sender) = 0;
};

struct DataCounters {
  uint64_t received = 0;  // messages read from any data socket
  uint64_t dropped = 0;   // malformed, unexpected or unroutable messages
  uint64_t failuresSent = 0;
  uint64_t acksReceived = 0;
  uint64_t resent = 0;             // messages sent again after a failed handshake
  uint64_t handshakeFailures = 0;  // of our DEALERs (a peer's ZAP said no, so far)
  uint64_t sendErrors = 0;         // would block, or no such peer
  uint64_t stalls = 0;             // connections rebuilt because an ack was overdue
};

// Per peer, since the last takeLinkStats(): acknowledged transfers and their round trips.
struct LinkStats {
  uint64_t acks = 0;
  uint64_t bytes = 0;
  double ackSeconds = 0.0;  // sum of send-to-ack times
  double maxAckSeconds = 0.0;
};

class DataPlane {
 public:
  static constexpr size_t MAX_UNACKED_PER_PEER = 256;
  static constexpr std::chrono::seconds UNACKED_EXPIRY{30};
  static constexpr std::chrono::milliseconds MIN_BACKOFF{20};
  static constexpr std::chrono::milliseconds MAX_BACKOFF{2000};
  static constexpr size_t MAX_READS_PER_POLL = 64;  // per socket, so one busy peer cannot starve the loop
  // An ack is overdue after ACK_WAIT_FACTOR x (RTT + bytes / bandwidth) of the link's estimate,
  // at least MIN_ACK_WAIT; each stall in a row doubles the wait, up to MAX_ACK_WAIT. The floor is
  // long because the estimate lags a link that just slowed down: at 2 s, a link cut from 40 Mbit/s
  // to 500 kbit/s with a full 256 KiB queue (testbed_test) read as stalled, and each rebuild sent
  // everything again into the same queue, so no ack got through for a minute.
  static constexpr std::chrono::seconds MIN_ACK_WAIT{8};
  static constexpr std::chrono::seconds MAX_ACK_WAIT{60};
  static constexpr double ACK_WAIT_FACTOR = 4;
  // A link that carried nothing large enough to time its bandwidth for PROBE_INTERVAL gets a
  // probe pair (a tiny one, then PROBE_SECONDS of its estimated bandwidth), but never more often
  // than keeps probes under PROBE_SHARE of the link's time. The pair goes behind the link's next
  // request message, or on its own once the link has carried none for PROBE_INTERVAL.
  static constexpr std::chrono::milliseconds PROBE_INTERVAL{250};
  static constexpr double PROBE_SECONDS = 0.025;
  static constexpr double PROBE_SHARE = 0.1;
  static constexpr uint32_t MIN_PROBE_BYTES = 1536, MAX_PROBE_BYTES = 64 << 10;
  static constexpr uint32_t RTT_PROBE_BYTES = 16;
  static constexpr std::chrono::seconds PROBE_EXPIRY{10};
  // The in-process shaper's bucket depth: 0, a pure rate limiter, so that even a small probe
  // takes the time the link's rate implies (a deep bucket would let it through at once).
  static constexpr double SHAPER_BURST_BYTES = 0;
  // A probe that moved the estimate by this factor is followed by another at once, sized on
  // the new estimate, so a link that got much faster is measured within a few round trips.
  static constexpr double PROBE_FOLLOW_UP_FACTOR = 1.5;

  // Binds the ROUTER on `bindEndpoint` (CURVE server with `own` keys, ZAP domain "cleave-data").
  // `advertise` is what peers are told to connect to; empty: the bound endpoint.
  static Result<std::unique_ptr<DataPlane>> create(proto::ZapAuthenticator& zap, const proto::CurveKeyPair& own,
                                                   std::string self, const std::string& bindEndpoint,
                                                   const std::string& advertise, const proto::TensorLimits& limits,
                                                   std::shared_ptr<spdlog::logger> log);
  ~DataPlane();
  DataPlane(const DataPlane&) = delete;
  DataPlane& operator=(const DataPlane&) = delete;

  const std::string& endpoint() const { return advertised_; }
  const std::string& boundEndpoint() const { return bound_; }

  // Connects to every peer in `peers` (rebuilding a connection whose key or endpoint changed)
  // and closes the others.
  void setPeers(const std::map<std::string, proto::PeerSpec>& peers);
  bool knows(const std::string& peer) const { return links_.contains(peer); }
  // Keys (Z85) of the local clients: the agent's one ZAP handler admits them for the client
  // socket, so they get through the handshake here too; what they send here is dropped.
  void setClientKeys(std::set<std::string> keys) { clientKeys_ = std::move(keys); }

  // Sends an activations or result message (stamping sentAtMicros) and keeps it until acked.
  Status sendTensorMessage(const std::string& peer, proto::TensorMessage message);
  // Sends failure{reason, detail} for a request to a peer (normally its origin).
  Status sendFailure(const std::string& peer, uint64_t requestId, uint64_t epoch, wire::Failure::Reason reason,
                     std::string_view detail);

  // Poll integration: appends this plane's sockets to `items`; after zmq::poll, pass back the
  // same items (the span starting where they were appended).
  void addPollItems(std::vector<zmq::pollitem_t>& items);
  void handlePolled(std::span<const zmq::pollitem_t> items, DataHandler& handler);
  // Rebuilds refused connections whose backoff passed, resends their messages, expires old ones.
  void tick(Clock::time_point now);
  std::optional<Clock::time_point> nextDeadline() const;

  const DataCounters& counters() const { return counters_; }
  std::map<std::string, LinkStats> takeLinkStats();
  size_t unackedCount() const;

  // Shapes the outgoing link to `peer` (kept across plan changes); nullopt removes the shaping.
  void setShaper(const std::string& peer, std::optional<LinkShaper> shaper);
  // The shaped link's true bandwidth now; nullopt when the link to `peer` is not shaped.
  std::optional<double> shapedBytesPerSecond(const std::string& peer, Clock::time_point now) const;
  // Current estimates of the outgoing links that have one.
  std::map<std::string, LinkEstimate> linkEstimates() const;
  // Some estimate moved by more than `fraction` since it was last reported.
  bool estimatesChanged(double fraction) const;
  // Estimates for telemetry: samples since the last report; marks them reported.
  std::map<std::string, LinkEstimate> takeLinkReport();

 private:
  struct Unacked {
    uint64_t sentAtMicros = 0;
    proto::TensorMessage message;
    Clock::time_point firstSent;
    Clock::time_point expectedAt;  // when it left for the peer (a shaped link holds it until then)
    uint64_t bytes = 0;            // on the wire
  };
  // Encoded frames the shaper holds until the link would have delivered them.
  struct Held {
    Clock::time_point releaseAt;
    std::vector<zmq::message_t> frames;
  };
  struct Probe {
    uint64_t bytes = 0;
    Clock::time_point sent;
  };
  struct PeerLink {
    proto::PeerSpec spec;
    zmq::socket_t dealer;
    zmq::socket_t monitor;
    std::deque<Unacked> unacked;
    std::optional<Clock::time_point> rebuildAt;
    std::chrono::milliseconds backoff = MIN_BACKOFF;
    bool reportedFailure = false;
    LinkStats stats;
    std::deque<Held> held;              // in release order
    std::map<uint64_t, Probe> probes;   // by sentAtMicros, until acked or expired
    Clock::time_point lastActivity = Clock::now();
    Clock::time_point lastAckAt{};    // any ack, probes' included: the link moves
    Clock::time_point lastReleaseAt{};  // when the message handed over last leaves (shaping)
    int stallsInARow = 0;             // stalls since the last ack
    Clock::time_point lastRequest{};  // last activations or result message handed over
    Clock::time_point lastTimed = Clock::now();  // last bandwidth-sized ack or probe sent
    std::chrono::duration<double> probeGap{0};   // wait before the next probe
  };
  struct PollEntry {
    std::string peer;  // empty: the ROUTER
    bool monitor = false;
    void* handle = nullptr;
  };

  DataPlane(proto::ZapAuthenticator& zap, proto::CurveKeyPair own, std::string self, proto::TensorLimits limits,
            std::shared_ptr<spdlog::logger> log)
      : zap_(zap), own_(std::move(own)), self_(std::move(self)), limits_(limits), log_(std::move(log)) {}

  Status connect(PeerLink& link);
  void disconnect(PeerLink& link);
  Status transmit(PeerLink& link, Unacked& entry);
  // The shaper holds frames for this link, or a probe is out: a new RTT probe would only wait.
  static bool busy(const PeerLink& link) { return !link.probes.empty() || !link.held.empty(); }
  // A bandwidth probe (not just a tiny RTT one) is out: the next waits for its ack.
  static bool bandwidthProbeOut(const PeerLink& link) {
    return std::any_of(link.probes.begin(), link.probes.end(),
                       [](const auto& probe) { return probe.second.bytes > LinkEstimator::SMALL_BYTES; });
  }
  // Sends now, or holds the frames in the link's shaper (link.lastReleaseAt says until when).
  Status handOver(PeerLink& link, std::vector<zmq::message_t> frames, Clock::time_point now);
  // How long the oldest unacknowledged message may wait for its ack (see the header comment).
  Clock::duration ackWait(const PeerLink& link, const Unacked& entry) const;
  // When the link's oldest unacknowledged message is overdue; nullopt when nothing waits.
  std::optional<Clock::time_point> ackOverdueAt(const PeerLink& link) const;
  Status sendProbe(PeerLink& link, uint32_t paddingBytes, Clock::time_point now);
  void releaseHeld(PeerLink& link, Clock::time_point now);
  // `behindRequest`: a request message was just handed over, so the probe cannot delay it.
  void probeIfDue(PeerLink& link, Clock::time_point now, bool behindRequest);
  Clock::time_point nextProbeAt(const PeerLink& link) const;
  // When a due probe goes out on its own: once the link has carried no request for PROBE_INTERVAL.
  Clock::time_point nextLoneProbeAt(const PeerLink& link) const;
  void readRouter(DataHandler& handler);
  void readDealer(PeerLink& link, DataHandler& handler);
  void readMonitor(PeerLink& link);
  void handleTensorMessage(const zmq::message_t& routingId, const std::string& sender, wire::DataMessage::Reader header,
                           std::span<const zmq::message_t> frames, uint64_t receivedBytes, DataHandler& handler);
  void handleAck(PeerLink& link, wire::TransferAck::Reader ack);
  void reply(const zmq::message_t& routingId, zmq::message_t header, const std::string& sender);
  void failToOrigin(const std::string& origin, uint64_t requestId, uint64_t epoch, wire::Failure::Reason reason,
                    const std::string& detail, DataHandler& handler);
  void drop(const std::string& from, const std::string& why);
  uint64_t nextSentAt();

  proto::ZapAuthenticator& zap_;
  proto::CurveKeyPair own_;
  std::string self_;
  proto::TensorLimits limits_;
  std::shared_ptr<spdlog::logger> log_;
  zmq::socket_t router_;
  std::string bound_, advertised_;
  std::map<std::string, std::unique_ptr<PeerLink>> links_;
  std::map<std::string, std::string> nameByKey_;  // Z85 key -> peer name
  std::set<std::string> clientKeys_;
  std::vector<PollEntry> polled_;
  DataCounters counters_;
  uint64_t lastSentAt_ = 0;
  uint64_t monitorCounter_ = 0;
  std::map<std::string, LinkShaper> shapers_;        // by peer; outlive connections
  std::deque<Held> heldAcks_;                        // acks held for the shaped link's way back
  std::map<std::string, LinkEstimator> estimators_;  // likewise
};

// The failure reason's name, for logs.
std::string_view failureReasonName(wire::Failure::Reason reason);

}  // namespace cleave::agent

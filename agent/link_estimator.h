// Passive estimation of one outgoing link's bandwidth and round-trip time from the agent's own
// transfers, each timed from hand-over to the receiver's acknowledgement on the sender's clock.
//
// A transfer of B bytes handed to an idle link is acknowledged after RTT + B / bandwidth: one
// equation, two unknowns. They are separated by size. Small messages (the data plane sends a
// tiny probe ahead of every transfer that finds the link idle) measure the RTT. A large message
// queued behind an earlier one is acknowledged B / bandwidth after it — the dispersion of a
// packet pair, independent of the RTT — unless it was handed over after that one's last byte
// left; in general its transfer took ack - RTT - max(handed over, previous ack - RTT). When the
// message ahead was handed over at the same moment (the tiny probe the data plane sends first),
// the message certainly queued behind it, and the dispersion alone is used: an RTT estimate
// that lags a falling RTT would otherwise shorten the transfer and inflate the bandwidth (an LTE
// link read 150 Mbit/s for 35). A small message is an RTT sample only if nothing was ahead of it
// on the link. Samples are smoothed in the log domain (bandwidth moves by factors), and
// two successive samples beyond JUMP_FACTOR in the same direction replace the estimate at once,
// so a step change registers within two transfers instead of fading in.
#pragma once

#include <cstdint>
#include <optional>

namespace cleave::agent {

struct LinkEstimate {
  double bytesPerSecond = 0.0;
  double rttSeconds = 0.0;
  uint32_t samples = 0;     // bandwidth and RTT samples since the last takeSamples()
  bool lastFromProbe = false;  // the latest bandwidth sample came from an active probe
};

class LinkEstimator {
 public:
  static constexpr uint64_t SMALL_BYTES = 1024;           // at most this: an RTT sample
  static constexpr double MIN_TRANSFER_SECONDS = 0.0001;  // shorter: timing noise, not bandwidth
  static constexpr double GAIN = 0.4;                     // weight of a new sample (log domain)
  static constexpr double JUMP_FACTOR = 1.5;
  // Handed over within this of the message ahead: sent as a pair, so it queued behind it.
  static constexpr double PAIR_SECONDS = 0.0002;

  // A message of `bytes` handed to the link at `sentAt` and acknowledged at `ackedAt` (seconds
  // on one monotonic clock). Acks must be passed in the order they arrive (the link is FIFO).
  void onAck(double sentAt, double ackedAt, uint64_t bytes, bool probe);

  // Nullopt until the first bandwidth sample.
  std::optional<LinkEstimate> estimate() const;
  // Samples since the previous call (for telemetry's `samples`).
  uint32_t takeSamples();
  // The estimate moved by more than `fraction` (bandwidth or RTT; RTT changes under 2 ms never
  // count) since markReported(), or exists and was never reported.
  bool changedSinceReport(double fraction) const;
  void markReported();
  // When the last acknowledgement arrived (0: never).
  double lastAckedAt() const { return lastAckedAt_; }

 private:
  void addBandwidthSample(double bytesPerSecond, bool probe);
  void addRttSample(double seconds);

  std::optional<double> logBandwidth_;  // natural log of bytes per second
  std::optional<double> rtt_;
  int pendingJump_ = 0;  // +1 / -1: the previous sample was beyond JUMP_FACTOR up / down
  double pendingLog_ = 0.0;
  double lastAckedAt_ = 0.0;
  double lastAckedSentAt_ = -1.0;  // when the message acknowledged last was handed over
  uint32_t samples_ = 0;
  bool lastFromProbe_ = false;
  std::optional<double> reportedBandwidth_, reportedRtt_;
};

}  // namespace cleave::agent

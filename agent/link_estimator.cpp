#include "agent/link_estimator.h"

#include <algorithm>
#include <cmath>

namespace cleave::agent {

void LinkEstimator::onAck(double sentAt, double ackedAt, uint64_t bytes, bool probe) {
  const double previousAck = lastAckedAt_, previousSent = lastAckedSentAt_;
  if (ackedAt >= lastAckedAt_) {
    lastAckedAt_ = ackedAt;
    lastAckedSentAt_ = sentAt;
  }
  const double elapsed = ackedAt - sentAt;
  if (elapsed < 0) return;
  const double bytesD = static_cast<double>(bytes);
  const double rtt = rtt_.value_or(0.0);
  // The link was free for this message from the later of its hand-over and the moment the
  // message ahead of it had left (that one's ack, one RTT after its last byte).
  const double freeAt = std::max(sentAt, previousAck - rtt);
  if (bytes <= SMALL_BYTES) {
    if (freeAt > sentAt) return;  // it waited behind the message ahead: the wait is not RTT
    const double serialisation = logBandwidth_ ? bytesD / std::exp(*logBandwidth_) : 0.0;
    addRttSample(std::max(0.0, elapsed - serialisation));
    return;
  }
  const bool pair = previousAck > sentAt && sentAt >= previousSent && sentAt - previousSent <= PAIR_SECONDS;
  const double transfer = pair ? ackedAt - previousAck : ackedAt - rtt - freeAt;
  if (transfer < MIN_TRANSFER_SECONDS) {
    // Too quick to time. A probe still says the link is at least this fast, and the data plane
    // follows a probe that moved the estimate with a bigger one, which can be timed.
    if (probe) addBandwidthSample(bytesD / MIN_TRANSFER_SECONDS, probe);
    return;
  }
  addBandwidthSample(bytesD / transfer, probe);
}

void LinkEstimator::addBandwidthSample(double bytesPerSecond, bool probe) {
  ++samples_;
  lastFromProbe_ = probe;
  const double sample = std::log(bytesPerSecond);
  if (!logBandwidth_) {
    logBandwidth_ = sample;
    return;
  }
  const double jump = std::log(JUMP_FACTOR);
  const int direction = sample > *logBandwidth_ + jump ? 1 : sample < *logBandwidth_ - jump ? -1 : 0;
  if (direction != 0 && direction == pendingJump_) {
    logBandwidth_ = (sample + pendingLog_) / 2;  // a step: trust the two new samples
    pendingJump_ = 0;
    return;
  }
  pendingJump_ = direction;
  pendingLog_ = sample;
  *logBandwidth_ += GAIN * (sample - *logBandwidth_);
}

void LinkEstimator::addRttSample(double seconds) {
  ++samples_;
  rtt_ = rtt_ ? *rtt_ + GAIN * (seconds - *rtt_) : seconds;
}

std::optional<LinkEstimate> LinkEstimator::estimate() const {
  if (!logBandwidth_) return std::nullopt;
  return LinkEstimate{std::exp(*logBandwidth_), rtt_.value_or(0.0), samples_, lastFromProbe_};
}

uint32_t LinkEstimator::takeSamples() {
  uint32_t n = samples_;
  samples_ = 0;
  return n;
}

bool LinkEstimator::changedSinceReport(double fraction) const {
  if (!logBandwidth_) return false;
  if (!reportedBandwidth_) return true;
  const double bandwidth = std::exp(*logBandwidth_);
  if (std::abs(bandwidth - *reportedBandwidth_) > fraction * *reportedBandwidth_) return true;
  const double rtt = rtt_.value_or(0.0);
  return std::abs(rtt - *reportedRtt_) > std::max(0.002, fraction * *reportedRtt_);
}

void LinkEstimator::markReported() {
  if (!logBandwidth_) return;
  reportedBandwidth_ = std::exp(*logBandwidth_);
  reportedRtt_ = rtt_.value_or(0.0);
}

}  // namespace cleave::agent

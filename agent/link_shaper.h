// The in-process link shaper: an agent delays each outgoing message as a real link would, with a
// token bucket whose rate follows a bandwidth trace plus the trace's round-trip time, so tests and
// demos see slow, changing links without root or tc (design.md, "Links in tests and demos").
#pragma once

#include <chrono>
#include <cstddef>

#include "config/bandwidth_trace.h"

namespace cleave::agent {

// Shapes one outgoing link. A fluid token bucket: tokens arrive at the trace's rate; while the
// link is idle they collect up to `burstBytes`, and a message first spends what has collected
// (sent at once, like a tbf burst) and then streams at the trace's rate. The bucket starts full,
// as a link that has been idle before time zero. Not thread-safe: one sender owns it.
class LinkShaper {
 public:
  using Clock = std::chrono::steady_clock;

  // `burstBytes`: token bucket depth (default 16 KiB, like a small tbf burst; negative reads as 0).
  // `start`: the trace's time zero.
  LinkShaper(config::BandwidthTrace trace, Clock::time_point start, double burstBytes = 16384);

  // A message of `bytes` handed to the link at `now`: returns when it is delivered at the far end.
  // Serialisation starts at max(now, when the previous message finished); bucket credit earned
  // while idle (capped at burstBytes) is spent first, the rest goes at the trace's rate; then half
  // the RTT at the finish time is added, the one-way delay (the receiving agent holds its ack for
  // the other half: DataPlane). Messages are delivered in order: a later call never returns an
  // earlier time.
  // Returns Clock::time_point::max() if the trace can never carry the message (a constant 0 rate).
  Clock::time_point admit(size_t bytes, Clock::time_point now);

  // The trace's rate and RTT at `t` (for telemetry and the demo).
  double bytesPerSecondAt(Clock::time_point t) const;
  double rttSecondsAt(Clock::time_point t) const;
  const config::BandwidthTrace& trace() const { return trace_; }

 private:
  double secondsSinceStart(Clock::time_point t) const;
  Clock::time_point timeAt(double seconds) const;

  config::BandwidthTrace trace_;
  Clock::time_point start_;
  double burstBytes_;
  // Trace time (s) at which the previous message finished serialising, and the tokens left then.
  double busyUntil_ = 0;
  double tokens_;
  Clock::time_point lastDelivery_;
};

}  // namespace cleave::agent

#include "agent/link_shaper.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace cleave::agent {

LinkShaper::LinkShaper(config::BandwidthTrace trace, Clock::time_point start, double burstBytes)
    : trace_(std::move(trace)),
      start_(start),
      burstBytes_(std::max(burstBytes, 0.0)),
      tokens_(burstBytes_),
      lastDelivery_(start) {}

double LinkShaper::secondsSinceStart(Clock::time_point t) const {
  return std::max(std::chrono::duration<double>(t - start_).count(), 0.0);
}

LinkShaper::Clock::time_point LinkShaper::timeAt(double seconds) const {
  // Beyond what the clock can hold (or never): the far future.
  double room = std::chrono::duration<double>(Clock::time_point::max() - start_).count();
  if (!(seconds < room)) return Clock::time_point::max();
  return start_ + std::chrono::round<Clock::duration>(std::chrono::duration<double>(seconds));
}

LinkShaper::Clock::time_point LinkShaper::admit(size_t bytes, Clock::time_point now) {
  double begin = std::max(secondsSinceStart(now), busyUntil_);
  // Tokens only collect while the link is idle, i.e. between the last finish and this start.
  double tokens = std::min(burstBytes_, tokens_ + trace_.bytesBetween(busyUntil_, begin));
  double size = static_cast<double>(bytes);
  double fromBucket = std::min(tokens, size);
  double finish = trace_.transmitEnd(begin, size - fromBucket);
  busyUntil_ = finish;
  tokens_ = tokens - fromBucket;
  if (!std::isfinite(finish)) {
    lastDelivery_ = Clock::time_point::max();
    return lastDelivery_;
  }
  Clock::time_point delivered = timeAt(finish + trace_.rttSecondsAt(finish) / 2);
  // RTT can fall between two messages; a later message still may not overtake an earlier one.
  lastDelivery_ = std::max(lastDelivery_, delivered);
  return lastDelivery_;
}

double LinkShaper::bytesPerSecondAt(Clock::time_point t) const { return trace_.bytesPerSecondAt(secondsSinceStart(t)); }

double LinkShaper::rttSecondsAt(Clock::time_point t) const { return trace_.rttSecondsAt(secondsSinceStart(t)); }

}  // namespace cleave::agent

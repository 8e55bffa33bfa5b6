// The estimator against a link simulated here: a FIFO that serialises each message at the
// link's rate and delivers it one RTT after its last byte, the acknowledgement arriving at once.
#include "agent/link_estimator.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>

using namespace cleave::agent;

namespace {

struct SimulatedLink {
  double bytesPerSecond;
  double rttSeconds;
  double busyUntil = 0.0;
  LinkEstimator estimator;
  double lastAck = 0.0;  // of everything handed over so far

  // Whether a message handed over at `now` waits behind unacknowledged ones.
  bool queuedAt(double now) const { return now < lastAck; }

  // Hands `bytes` to the link at `now`; returns when it is acknowledged. Acks are fed to the
  // estimator in arrival order by the caller (sendAll).
  double transmit(double now, double bytes) {
    busyUntil = std::max(now, busyUntil) + bytes / bytesPerSecond;
    lastAck = std::max(lastAck, busyUntil + rttSeconds);
    return busyUntil + rttSeconds;
  }

  // What the data plane does for a transfer to an idle link: a tiny probe, then the message.
  void probeThenSend(double now, uint64_t bytes) {
    double probeAck = transmit(now, 64);
    double messageAck = transmit(now, static_cast<double>(bytes));
    estimator.onAck(now, probeAck, 64, true);
    estimator.onAck(now, messageAck, bytes, false);
  }
};

}  // namespace

TEST_CASE("a steady link: bandwidth and RTT are recovered") {
  for (double rate : {6e3, 125e3, 2.5e6, 100e6}) {
    for (double rtt : {0.0, 0.005, 0.06}) {
      CAPTURE(rate);
      CAPTURE(rtt);
      SimulatedLink link{rate, rtt, 0.0, {}};
      const uint64_t bytes = std::max<uint64_t>(4096, static_cast<uint64_t>(rate * 0.02));
      for (int i = 0; i < 20; ++i) link.probeThenSend(i * 10.0, bytes);
      auto estimate = link.estimator.estimate();
      REQUIRE(estimate);
      CHECK(estimate->bytesPerSecond == doctest::Approx(rate).epsilon(0.01));
      CHECK(estimate->rttSeconds == doctest::Approx(rtt).epsilon(0.01).scale(1.0 / std::max(rtt, 1e-3)));
    }
  }
}

TEST_CASE("back-to-back messages are timed by their dispersion, not their wait") {
  SimulatedLink link{1e6, 0.03, 0.0, {}};
  // Ten 100 kB messages handed over at once; each waits for the ones before it.
  std::vector<double> acks;
  for (int i = 0; i < 10; ++i) acks.push_back(link.transmit(0.0, 100e3));
  for (size_t i = 0; i < acks.size(); ++i) link.estimator.onAck(0.0, acks[i], 100000, false);
  auto estimate = link.estimator.estimate();
  REQUIRE(estimate);
  // Without the rule, the last message (1.03 s for 100 kB) would read as ~97 kB/s.
  CHECK(estimate->bytesPerSecond == doctest::Approx(1e6).epsilon(0.05));
}

TEST_CASE("a step change registers within two transfers, in both directions") {
  SimulatedLink link{20e6 / 8, 0.01, 0.0, {}};  // 20 Mbps
  double t = 0;
  for (int i = 0; i < 10; ++i, t += 0.1) link.probeThenSend(t, 50000);
  CHECK(link.estimator.estimate()->bytesPerSecond == doctest::Approx(20e6 / 8).epsilon(0.02));
  link.bytesPerSecond = 2e6 / 8;  // drops to 2 Mbps
  link.probeThenSend(t += 0.5, 50000);
  link.probeThenSend(t += 0.5, 50000);
  CHECK(link.estimator.estimate()->bytesPerSecond == doctest::Approx(2e6 / 8).epsilon(0.1));
  link.bytesPerSecond = 50e6 / 8;  // jumps to 50 Mbps
  link.probeThenSend(t += 0.5, 50000);
  link.probeThenSend(t += 0.5, 50000);
  CHECK(link.estimator.estimate()->bytesPerSecond == doctest::Approx(50e6 / 8).epsilon(0.1));
}

TEST_CASE("noisy samples are smoothed: the estimate stays near the mean rate") {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> jitter(0.85, 1.15);
  SimulatedLink link{1e6, 0.02, 0.0, {}};
  double t = 0;
  double worst = 0;
  for (int i = 0; i < 300; ++i, t += 1.0) {
    link.bytesPerSecond = 1e6 * jitter(rng);
    link.probeThenSend(t, 40000);
    if (i > 5) worst = std::max(worst, std::abs(link.estimator.estimate()->bytesPerSecond / 1e6 - 1));
  }
  CHECK(worst < 0.12);
}

TEST_CASE("significant changes are reported once until they move again") {
  SimulatedLink link{1e6, 0.01, 0.0, {}};
  CHECK_FALSE(link.estimator.changedSinceReport(0.1));  // nothing to report yet
  link.probeThenSend(0, 20000);
  CHECK(link.estimator.changedSinceReport(0.1));  // never reported
  link.estimator.markReported();
  link.probeThenSend(1, 20000);
  CHECK_FALSE(link.estimator.changedSinceReport(0.1));
  link.bytesPerSecond = 0.5e6;
  link.probeThenSend(2, 20000);
  link.probeThenSend(3, 20000);
  CHECK(link.estimator.changedSinceReport(0.1));
  CHECK(link.estimator.takeSamples() == 8);  // 4 RTT + 4 bandwidth samples
  CHECK(link.estimator.takeSamples() == 0);
}

TEST_CASE("a probe too quick to time reads as a lower bound, so a much faster link is not missed") {
  SimulatedLink link{62500, 0.005, 0.0, {}};  // 500 kbps
  for (int i = 0; i < 5; ++i) link.probeThenSend(i * 1.0, 4000);
  CHECK(link.estimator.estimate()->bytesPerSecond == doctest::Approx(62500).epsilon(0.02));
  link.bytesPerSecond = 1e9;  // far faster than a 4 kB probe can be timed
  double probeAck = link.transmit(10.0, 64);
  double ack = link.transmit(10.0, 4000);
  link.estimator.onAck(10.0, probeAck, 64, true);
  link.estimator.onAck(10.0, ack, 4000, true);
  CHECK(link.estimator.estimate()->bytesPerSecond > 62500 * 5);
  // The same passive message says nothing: only probes claim a bound.
  SimulatedLink passive{62500, 0.005, 0.0, {}};
  for (int i = 0; i < 5; ++i) passive.probeThenSend(i * 1.0, 4000);
  passive.bytesPerSecond = 1e9;
  probeAck = passive.transmit(10.0, 64);
  ack = passive.transmit(10.0, 4000);
  passive.estimator.onAck(10.0, probeAck, 64, true);
  passive.estimator.onAck(10.0, ack, 4000, false);
  CHECK(passive.estimator.estimate()->bytesPerSecond == doctest::Approx(62500).epsilon(0.02));
}

TEST_CASE("messages handed over one after another while earlier ones are in flight") {
  // Five requests' activations leave 5 ms apart on a link that needs 20 ms for each: each waits
  // behind the ones before it although the last ack arrived before it was sent. Treating them as
  // sent to an idle link would read the wait as RTT and the link as slow.
  SimulatedLink link{1e6, 0.05, 0.0, {}};
  for (int round = 0; round < 20; ++round) {
    const double start = round * 2.0;
    link.probeThenSend(start, 20000);
    std::vector<std::pair<double, bool>> sends;  // ack, queued at send
    for (int i = 1; i < 5; ++i) {
      const double at = start + 0.005 * i;
      sends.push_back({link.transmit(at, 20000), link.queuedAt(at)});
    }
    for (int i = 1; i < 5; ++i) link.estimator.onAck(start + 0.005 * i, sends[i - 1].first, 20000, false);
  }
  CHECK(link.estimator.estimate()->bytesPerSecond == doctest::Approx(1e6).epsilon(0.05));
  CHECK(link.estimator.estimate()->rttSeconds == doctest::Approx(0.05).epsilon(0.05));
}

TEST_CASE("a message handed over just before the previous ack returns is timed from its own start") {
  // The previous message has left (its ack is on the way back) when the next is handed over:
  // the next one is not behind anything on the link, though its ack comes after that one.
  SimulatedLink link{1e6, 0.08, 0.0, {}};
  for (int i = 0; i < 10; ++i) {
    const double start = i * 1.0;
    link.probeThenSend(start, 3000);
    // 50 ms later, 30 ms before the previous ack: queued in the data plane's sense.
    const double at = start + 0.05;
    CHECK(link.queuedAt(at));  // its ack comes after the previous one's
    link.estimator.onAck(at, link.transmit(at, 3000), 3000, false);
  }
  CHECK(link.estimator.estimate()->bytesPerSecond == doctest::Approx(1e6).epsilon(0.05));
}

TEST_CASE("a pair is timed by its dispersion while the RTT estimate lags a falling RTT") {
  // An LTE-like link whose RTT falls 5 ms per second while its rate holds at 4.4 MB/s (35
  // Mbit/s), a 3 KiB transfer every 50 ms: the smoothed RTT stays about 0.4 ms above the truth,
  // half of what the transfer takes. Timed as ack - RTT, the link would read twice as fast.
  SimulatedLink link{4.4e6, 0.075, 0.0, {}};
  for (int k = 0; k < 120; ++k) {
    link.rttSeconds = 0.075 - 0.005 * k * 0.05;
    link.probeThenSend(k * 0.05, 3136);
  }
  REQUIRE(link.estimator.estimate());
  CHECK(link.estimator.estimate()->bytesPerSecond == doctest::Approx(4.4e6).epsilon(0.02));
}

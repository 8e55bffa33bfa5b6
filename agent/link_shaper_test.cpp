// The link shaper: delivery times on hand-worked cases (serialisation + RTT, queueing, the bucket
// refilling only up to its depth, drop-outs), in-order delivery on random inputs, and agreement
// with a brute-force simulation of a fluid token bucket on random traces and message sequences.
#include "agent/link_shaper.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <random>
#include <string>
#include <vector>

#include "config/trace_reference_for_tests.h"

namespace cleave::agent {
namespace {

using Clock = LinkShaper::Clock;
using config::BandwidthTrace;
using config::TracePoint;
using config::testing::ReferenceTrace;

// An arbitrary trace start, far from the clock's epoch.
const Clock::time_point START = Clock::time_point(std::chrono::hours(1000));

Clock::time_point at(double seconds) {
  return START + std::chrono::round<Clock::duration>(std::chrono::duration<double>(seconds));
}

double secondsOf(Clock::time_point t) { return std::chrono::duration<double>(t - START).count(); }

BandwidthTrace parsed(const std::string& csv) {
  Result<BandwidthTrace> trace = BandwidthTrace::parse(csv, "test.csv");
  REQUIRE_MESSAGE(trace.ok(), trace.error().message);
  return *trace;
}

// Nanosecond rounding of the returned time points, and no more.
const double TOLERANCE = 2e-9;

// |actual - expected| <= tolerance, in seconds (doctest's Approx is relative only).
#define CHECK_NEAR(actual, expected, tolerance)                  \
  do {                                                           \
    double actualValue = (actual);                               \
    double expectedValue = (expected);                           \
    CAPTURE(actualValue);                                        \
    CAPTURE(expectedValue);                                      \
    CHECK(std::abs(actualValue - expectedValue) <= (tolerance)); \
  } while (0)

// A random trace with rows on a 50 ms grid: about a fifth are drop-outs, the rest 8 kbit/s to
// 8 Mbit/s, RTTs 0-300 ms so that a later message often finishes into a much shorter RTT.
std::string randomTraceCsv(std::mt19937& rng) {
  std::uniform_int_distribution<int> rowCount(2, 20);
  std::uniform_int_distribution<int> length(1, 40);  // x 50 ms
  std::uniform_real_distribution<double> logRate(std::log(8e3), std::log(8e6));
  std::uniform_int_distribution<int> rtt(0, 300);
  std::bernoulli_distribution dropOut(0.2);
  std::string csv;
  int rows = rowCount(rng);
  int ticks = 0;
  for (int i = 0; i < rows; ++i) {
    bool zero = i > 0 && dropOut(rng);  // row 0 carries data, so not every row is 0
    long bits = zero ? 0 : std::lround(std::exp(logRate(rng)));
    int hundredths = ticks % 20 * 5;
    csv += std::to_string(ticks / 20) + "." + std::to_string(hundredths / 10) + std::to_string(hundredths % 10) + "," +
           std::to_string(bits) + "," + std::to_string(rtt(rng)) + "\n";
    ticks += length(rng);
  }
  return csv;
}

struct Message {
  double arrival;  // seconds after START
  size_t bytes;
};

// Brute force: a fluid token bucket stepped every 0.5 ms. Row times lie on the 50 ms grid, so the
// rate is constant within a step; arrivals sit mid-grid (k + 0.5 ms) so they never coincide with
// a row boundary. Within a step tokens arrive at the rate; queued bytes use them first, the rest
// collect up to the bucket depth. An arriving message first takes what the bucket holds.
std::vector<double> simulate(const ReferenceTrace& trace, double burst, const std::vector<Message>& messages) {
  const double STEP = 0.0005;
  std::vector<double> delivered(messages.size());
  std::deque<std::pair<size_t, double>> queue;  // message index, bytes left
  double tokens = burst;                        // full at the start, like the shaper
  double lastDelivery = 0;
  size_t next = 0;
  size_t done = 0;
  auto deliver = [&](size_t index, double finish) {
    lastDelivery = std::max(lastDelivery, finish + trace.rowAt(finish).rttSeconds / 2);
    delivered[index] = lastDelivery;
    ++done;
  };
  const long MAX_STEPS = 100'000'000;  // more would be a bug here, not a slow link
  for (long step = 0; done < messages.size() && step < MAX_STEPS; ++step) {
    double t0 = static_cast<double>(step) * STEP;
    while (next < messages.size() && std::lround(messages[next].arrival / STEP) == step) {
      double fromBucket = queue.empty() ? std::min(tokens, static_cast<double>(messages[next].bytes)) : 0;
      tokens -= fromBucket;
      double left = static_cast<double>(messages[next].bytes) - fromBucket;
      if (queue.empty() && left <= 0) {
        deliver(next, t0);
      } else {
        queue.emplace_back(next, left);
      }
      ++next;
    }
    double rate = trace.rowAt(t0 + STEP / 2).bitsPerSecond / 8;
    double used = 0;  // seconds of this step spent sending
    while (!queue.empty() && rate > 0) {
      double needed = queue.front().second / rate;
      if (used + needed > STEP) {
        queue.front().second -= (STEP - used) * rate;
        used = STEP;
        break;
      }
      used += needed;
      deliver(queue.front().first, t0 + used);
      queue.pop_front();
    }
    if (queue.empty()) tokens = std::min(burst, tokens + (STEP - used) * rate);
  }
  REQUIRE(done == messages.size());
  return delivered;
}

}  // namespace

TEST_CASE("1 MB at a constant 1 MB/s, no burst, 20 ms RTT arrives 1.01 s later (half the RTT one way)") {
  LinkShaper shaper(BandwidthTrace::constant(1e6, 0.02), START, 0);
  CHECK_NEAR(secondsOf(shaper.admit(1'000'000, at(5))), 6.01, TOLERANCE);
}

TEST_CASE("back-to-back messages queue behind each other") {
  LinkShaper shaper(BandwidthTrace::constant(1e6, 0.01), START, 0);
  CHECK_NEAR(secondsOf(shaper.admit(100'000, at(1))), 1.105, TOLERANCE);
  // Handed over at the same moment: serialises after the first, one serialisation later.
  CHECK_NEAR(secondsOf(shaper.admit(100'000, at(1))), 1.205, TOLERANCE);
  // Handed over while the link is still busy (at 1.15, busy until 1.2).
  CHECK_NEAR(secondsOf(shaper.admit(50'000, at(1.15))), 1.255, TOLERANCE);
  // After the link has gone idle: starts at once.
  CHECK_NEAR(secondsOf(shaper.admit(50'000, at(3))), 3.055, TOLERANCE);
}

TEST_CASE("an idle link refills the bucket, up to its depth only") {
  const double BURST = 16384;
  LinkShaper shaper(BandwidthTrace::constant(1e6, 0), START, BURST);
  // The bucket starts full: the first message gets BURST bytes free.
  double first = secondsOf(shaper.admit(1'000'000, START));
  CHECK_NEAR(first, (1e6 - BURST) / 1e6, TOLERANCE);
  // Ten idle seconds would earn 10 MB; the bucket holds BURST of it.
  double second = secondsOf(shaper.admit(100'000, at(first + 10)));
  CHECK_NEAR(second, first + 10 + (1e5 - BURST) / 1e6, TOLERANCE);
  // 5 ms idle earns 5000 bytes.
  double third = secondsOf(shaper.admit(100'000, at(second + 0.005)));
  CHECK_NEAR(third, second + 0.005 + (1e5 - 5000) / 1e6, TOLERANCE);
  // Small messages after a long idle go out at once from the bucket, until it runs dry.
  CHECK_NEAR(secondsOf(shaper.admit(1000, at(100))), 100, TOLERANCE);
  CHECK_NEAR(secondsOf(shaper.admit(1000, at(100))), 100, TOLERANCE);
  CHECK_NEAR(secondsOf(shaper.admit(20000, at(100))), 100 + (20000 - (BURST - 2000)) / 1e6, TOLERANCE);
}

TEST_CASE("a drop-out delays delivery until the bandwidth returns") {
  // 1 MB/s for a second, nothing for a second, 1 MB/s again; period 3 s.
  const std::string TRACE = "0,8000000,5\n1,0,50\n2,8000000,10\n";
  {
    LinkShaper shaper(parsed(TRACE), START, 0);
    // 1 MB by 1 s, wait to 2 s, 0.5 MB more by 2.5 s; half the RTT of the row holding at 2.5 s.
    CHECK_NEAR(secondsOf(shaper.admit(1'500'000, START)), 2.505, TOLERANCE);
  }
  {
    LinkShaper shaper(parsed(TRACE), START, 0);
    // Handed over during the drop-out: nothing moves until 2 s.
    CHECK_NEAR(secondsOf(shaper.admit(1000, at(1.2))), 2.006, TOLERANCE);
    // The trace repeats: 4.2 s is in the drop-out of the second period (4-5 s).
    CHECK_NEAR(secondsOf(shaper.admit(1000, at(4.2))), 5.006, TOLERANCE);
  }
  LinkShaper shaper(parsed(TRACE), START, 0);
  CHECK(shaper.bytesPerSecondAt(at(1.5)) == 0);
  CHECK(shaper.bytesPerSecondAt(at(3.5)) == 1e6);
  CHECK(shaper.rttSecondsAt(at(2.5)) == doctest::Approx(0.01));
  CHECK(shaper.bytesPerSecondAt(START - std::chrono::seconds(1)) == 1e6);  // before the start: time zero
  CHECK(shaper.trace().period() == 3);
}

TEST_CASE("a link that never carries data delivers never") {
  LinkShaper shaper(BandwidthTrace::constant(0, 0.01), START, 100);
  CHECK(shaper.admit(50, START) == at(0.005));  // from the bucket, half the RTT later
  CHECK(shaper.admit(1000, START) == Clock::time_point::max());
  CHECK(shaper.admit(1, at(5)) == Clock::time_point::max());
}

TEST_CASE("messages are delivered in order, whatever the RTT does") {
  // RTTs of 0-300 ms changing every 50 ms-2 s: a later message often finishes into a much
  // shorter RTT than the one before it and would overtake it without the ordering rule.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 100; ++trial) {
    BandwidthTrace trace = parsed(randomTraceCsv(rng));
    std::uniform_real_distribution<double> burst(0, 50000);
    LinkShaper shaper(trace, START, burst(rng));
    std::uniform_real_distribution<double> logBytes(0, std::log(2e5));
    std::uniform_real_distribution<double> gap(-0.2, 1.0);  // sometimes a call reports an earlier `now`
    double now = 0;
    Clock::time_point previous = START;
    for (int message = 0; message < 50; ++message) {
      now = std::max(0.0, now + gap(rng));
      size_t bytes = static_cast<size_t>(std::exp(logBytes(rng)));
      Clock::time_point delivered = shaper.admit(bytes, at(now));
      CAPTURE(trial);
      CAPTURE(message);
      CHECK(delivered >= previous);
      CHECK(delivered >= at(now));
      previous = delivered;
    }
  }
}

TEST_CASE("delivery times match a brute-force token bucket simulation") {
  std::mt19937 rng(2024);
  for (int trial = 0; trial < 30; ++trial) {
    BandwidthTrace trace = parsed(randomTraceCsv(rng));
    ReferenceTrace reference(trace.points());
    const double BURSTS[] = {0, 2000, 16384, 100000};
    double burst = BURSTS[trial % 4];
    // Arrivals at whole milliseconds plus half a millisecond; some at the same moment.
    std::uniform_int_distribution<int> gapMs(0, 800);
    std::bernoulli_distribution together(0.15);
    std::uniform_real_distribution<double> logBytes(0, std::log(3e5));
    std::vector<Message> messages;
    long ms = gapMs(rng);
    for (int i = 0; i < 30; ++i) {
      if (i > 0 && !together(rng)) ms += gapMs(rng);
      size_t bytes = i % 10 == 9 ? 0 : static_cast<size_t>(std::exp(logBytes(rng)));
      messages.push_back(Message{(static_cast<double>(ms) + 0.5) / 1000, bytes});
    }
    std::vector<double> expected = simulate(reference, burst, messages);

    LinkShaper shaper(trace, START, burst);
    for (size_t i = 0; i < messages.size(); ++i) {
      CAPTURE(trial);
      CAPTURE(i);
      CAPTURE(burst);
      double delivered = secondsOf(shaper.admit(messages[i].bytes, at(messages[i].arrival)));
      CHECK_NEAR(delivered, expected[i], 1e-6);
    }
  }
}

}  // namespace cleave::agent

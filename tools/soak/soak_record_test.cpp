#include "tools/soak/soak_record.h"

#include <doctest/doctest.h>

#include "tools/soak/soak_report.h"

namespace cleave::soak {

TEST_CASE("every request ends in exactly one outcome, by the minute it was sent") {
  SoakRecord record(30);
  record.sent(1, 0, 1, 1.0);    // answered right
  record.sent(2, 1, 2, 2.0);    // answered twice
  record.sent(3, 2, 3, 3.0);    // never answered
  record.sent(4, 3, 4, 61.0);   // wrong result
  record.sent(5, 4, 5, 62.0);   // the daemon reported a failure
  record.sent(6, 5, 6, 63.0);   // answered after the lost bound: still lost
  record.sent(7, 6, 7, 100.0);  // not answered yet, within the bound
  CHECK(record.answered(1, Answer::Correct, 1.5));
  CHECK(record.answered(2, Answer::Correct, 2.25));
  CHECK(record.answered(2, Answer::Correct, 9.0));
  CHECK(record.answered(4, Answer::Wrong, 61.5));
  CHECK(record.answered(5, Answer::Failed, 62.5, "request 5 failed: stage failed"));
  CHECK(record.answered(6, Answer::Correct, 94.0));
  CHECK_FALSE(record.answered(99, Answer::Correct, 5.0));

  const Totals totals = record.totals(110);
  CHECK(totals.sent == 7);
  CHECK(totals.once == 1);
  CHECK(totals.twice == 1);
  CHECK(totals.lost == 2);
  CHECK(totals.wrong == 1);
  CHECK(totals.failed == 1);
  CHECK(totals.pending == 1);
  CHECK(record.totals(131).pending == 0);
  CHECK(record.totals(131).lost == 3);
  CHECK(summaryLine(record.totals(131)) == "soak: sent 7, once 1, twice 1, lost 3, wrong 1");

  const std::vector<MinuteRow> rows = record.minutes(110);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].sent == 3);
  CHECK(rows[0].once == 1);
  CHECK(rows[0].twice == 1);
  CHECK(rows[0].lost == 1);
  CHECK(rows[1].sent == 4);
  CHECK(rows[1].wrong == 1);
  CHECK(rows[1].failed == 1);
  CHECK(rows[1].lost == 1);
  CHECK(rows[1].pending == 1);
  // Latency of the first results, failures left out: 0.5 s and 0.25 s in minute 1.
  REQUIRE(rows[0].p50Seconds);
  CHECK(*rows[0].p50Seconds == doctest::Approx(0.25));
  CHECK(*rows[0].p99Seconds == doctest::Approx(0.5));
  CHECK(*rows[1].p99Seconds == doctest::Approx(31.0));  // the late answer of request 6, and 4's 0.5 s
}

TEST_CASE("events, re-plans and memory land in the minute they happened") {
  SoakRecord record(30);
  record.sent(1, 0, 1, 10.0);
  record.replanned(5.0);
  record.replanned(65.0);
  record.replanned(70.0);
  record.event(61.0, "killed pi1");
  record.daemonMemory(90.0, 2048);
  const std::vector<MinuteRow> rows = record.minutes(125);
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].replans == 1);
  CHECK(rows[1].replans == 2);
  CHECK(rows[1].events == std::vector<std::string>{"killed pi1"});
  CHECK(rows[1].daemonRssKiB == 2048u);
  CHECK(rows[2].sent == 0);
  CHECK(minuteLine(rows[1]).find("daemon 2.0 MiB; killed pi1") != std::string::npos);
  // Two rows asked for: the third minute's re-plan goes into the second.
  record.replanned(130.0);
  CHECK(record.minutes(135, 2).size() == 2);
  CHECK(record.minutes(135, 2)[1].replans == 3);
}

TEST_CASE("percentile: nearest rank") {
  CHECK_FALSE(percentile({}, 50));
  CHECK(*percentile({3, 1, 2}, 50) == 2);
  CHECK(*percentile({3, 1, 2}, 99) == 3);
  CHECK(*percentile({3, 1, 2}, 0) == 1);
}

}  // namespace cleave::soak

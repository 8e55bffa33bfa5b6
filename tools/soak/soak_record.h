// What a soak run saw, request by request and minute by minute: every request sent (with the
// image it carried), every answer to it, and the fleet events of each minute. Pure bookkeeping
// on times the caller passes in (seconds since the soak started), so it is tested without a fleet.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cleave::soak {

// How one answer to a request turned out.
enum class Answer { Correct, Wrong, Failed };

// A request's outcome as far as is known at some time. Every request ends in exactly one of
// Once, Twice, Lost, Wrong or Failed; Pending only until the lost bound has passed.
enum class Outcome { Pending, Once, Twice, Lost, Wrong, Failed };

struct RequestEntry {
  double sentSeconds = 0;
  size_t image = 0;
  uint64_t daemonId = 0;  // the daemon's id for it (the n-th infer it received), for its logs
  std::vector<double> answerSeconds;
  std::optional<Answer> firstAnswer;
  std::string failure;  // the daemon's error text, for a failed request
};

// One minute of the run (by the minute a request was sent); events by when they happened.
struct MinuteRow {
  int minute = 0;
  size_t sent = 0, once = 0, twice = 0, lost = 0, wrong = 0, failed = 0, pending = 0;
  std::optional<double> p50Seconds, p99Seconds;  // first results (not failures) of this minute's requests
  int replans = 0;
  std::optional<uint64_t> daemonRssKiB;  // sampled at the minute's end
  std::vector<std::string> events;       // kills, restarts, agents down and up
};

struct Totals {
  size_t sent = 0, once = 0, twice = 0, lost = 0, wrong = 0, failed = 0, pending = 0;
};

class SoakRecord {
 public:
  // A request with no answer `lostAfterSeconds` after it was sent is lost; an answer that comes
  // later does not change that.
  explicit SoakRecord(double lostAfterSeconds) : lostAfterSeconds_(lostAfterSeconds) {}

  void sent(uint64_t id, size_t image, uint64_t daemonId, double seconds);
  // False when `id` was never sent (the caller counts it as a stray reply).
  bool answered(uint64_t id, Answer answer, double seconds, const std::string& failure = "");
  void replanned(double seconds);
  void event(double seconds, const std::string& text);
  void daemonMemory(double seconds, uint64_t rssKiB);

  Outcome outcome(const RequestEntry& request, double now) const;
  Totals totals(double now) const;
  // Rows for minutes 0 .. the minute of `now`, or exactly `rowCount` rows when it is not 0 (what
  // happened later, while the last answers drained, is put in the last row).
  std::vector<MinuteRow> minutes(double now, size_t rowCount = 0) const;
  const std::map<uint64_t, RequestEntry>& requests() const { return requests_; }
  double lostAfterSeconds() const { return lostAfterSeconds_; }

 private:
  double lostAfterSeconds_;
  std::map<uint64_t, RequestEntry> requests_;
  std::map<int, int> replans_;
  std::map<int, std::vector<std::string>> events_;
  std::map<int, uint64_t> daemonRss_;
};

// The value at percentile `p` (0..100, nearest rank) of `values`; nullopt when empty.
std::optional<double> percentile(std::vector<double> values, double p);

}  // namespace cleave::soak

#include "tools/soak/soak_record.h"

#include <algorithm>
#include <cmath>

namespace cleave::soak {
namespace {

int minuteOf(double seconds) { return static_cast<int>(std::floor(std::max(0.0, seconds) / 60.0)); }

}  // namespace

void SoakRecord::sent(uint64_t id, size_t image, uint64_t daemonId, double seconds) {
  RequestEntry& entry = requests_[id];
  entry.sentSeconds = seconds;
  entry.image = image;
  entry.daemonId = daemonId;
}

bool SoakRecord::answered(uint64_t id, Answer answer, double seconds, const std::string& failure) {
  auto it = requests_.find(id);
  if (it == requests_.end()) return false;
  RequestEntry& entry = it->second;
  entry.answerSeconds.push_back(seconds);
  if (!entry.firstAnswer) {
    entry.firstAnswer = answer;
    entry.failure = failure;
  }
  return true;
}

void SoakRecord::replanned(double seconds) { ++replans_[minuteOf(seconds)]; }

void SoakRecord::event(double seconds, const std::string& text) { events_[minuteOf(seconds)].push_back(text); }

void SoakRecord::daemonMemory(double seconds, uint64_t rssKiB) { daemonRss_[minuteOf(seconds)] = rssKiB; }

Outcome SoakRecord::outcome(const RequestEntry& request, double now) const {
  // A second answer is the worst news (the daemon promises one reply), whenever it came.
  if (request.answerSeconds.size() >= 2) return Outcome::Twice;
  const double deadline = request.sentSeconds + lostAfterSeconds_;
  if (request.answerSeconds.empty() || request.answerSeconds.front() > deadline)
    return now > deadline ? Outcome::Lost : Outcome::Pending;
  switch (*request.firstAnswer) {
    case Answer::Correct: return Outcome::Once;
    case Answer::Wrong: return Outcome::Wrong;
    case Answer::Failed: return Outcome::Failed;
  }
  return Outcome::Failed;
}

namespace {

// Adds one outcome to a row or the totals (both have the same counters).
template <class Counts>
void count(Counts& counts, Outcome outcome) {
  switch (outcome) {
    case Outcome::Pending: ++counts.pending; break;
    case Outcome::Once: ++counts.once; break;
    case Outcome::Twice: ++counts.twice; break;
    case Outcome::Lost: ++counts.lost; break;
    case Outcome::Wrong: ++counts.wrong; break;
    case Outcome::Failed: ++counts.failed; break;
  }
  ++counts.sent;
}

}  // namespace

Totals SoakRecord::totals(double now) const {
  Totals totals;
  for (const auto& [id, request] : requests_) count(totals, outcome(request, now));
  return totals;
}

std::vector<MinuteRow> SoakRecord::minutes(double now, size_t rowCount) const {
  std::vector<MinuteRow> rows(rowCount > 0 ? rowCount : static_cast<size_t>(minuteOf(now)) + 1);
  for (size_t i = 0; i < rows.size(); ++i) rows[i].minute = static_cast<int>(i);
  std::vector<std::vector<double>> latencies(rows.size());
  auto rowAt = [&](int minute) -> size_t { return std::min(static_cast<size_t>(minute), rows.size() - 1); };
  for (const auto& [id, request] : requests_) {
    const size_t row = rowAt(minuteOf(request.sentSeconds));
    count(rows[row], outcome(request, now));
    if (!request.answerSeconds.empty() && request.firstAnswer != Answer::Failed)
      latencies[row].push_back(request.answerSeconds.front() - request.sentSeconds);
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].p50Seconds = percentile(latencies[i], 50);
    rows[i].p99Seconds = percentile(latencies[i], 99);
  }
  for (const auto& [minute, replans] : replans_) rows[rowAt(minute)].replans += replans;
  for (const auto& [minute, rss] : daemonRss_) rows[rowAt(minute)].daemonRssKiB = rss;
  for (const auto& [minute, events] : events_)
    for (const std::string& e : events) rows[rowAt(minute)].events.push_back(e);
  return rows;
}

std::optional<double> percentile(std::vector<double> values, double p) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

}  // namespace cleave::soak

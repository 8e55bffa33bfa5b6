#include "tools/soak/soak_report.h"

#include <fmt/format.h>

namespace cleave::soak {
namespace {

std::string millis(const std::optional<double>& seconds) {
  return seconds ? fmt::format("{:.1f}", 1e3 * *seconds) : std::string("-");
}

std::string mebibytes(const std::optional<uint64_t>& kib) {
  return kib ? fmt::format("{:.1f}", static_cast<double>(*kib) / 1024.0) : std::string("-");
}

std::string growth(const MemoryRow& row) {
  if (!row.startKiB || !row.endKiB) return "-";
  const double delta = (static_cast<double>(*row.endKiB) - static_cast<double>(*row.startKiB)) / 1024.0;
  return fmt::format("{:+.1f}", delta);
}

std::string restartText(const MemoryRow& row) {
  return fmt::format("restarted {} time{}", row.restarts, row.restarts == 1 ? "" : "s");
}

const char* outcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::Pending: return "pending";
    case Outcome::Once: return "once";
    case Outcome::Twice: return "answered twice";
    case Outcome::Lost: return "lost";
    case Outcome::Wrong: return "wrong result";
    case Outcome::Failed: return "failed";
  }
  return "?";
}

}  // namespace

std::string minuteLine(const MinuteRow& row) {
  std::string line = fmt::format(
      "minute {}: sent {}, once {}, twice {}, lost {}, wrong {}, failed {}, pending {}, p50 {} ms, p99 {} ms, "
      "re-plans {}, daemon {} MiB",
      row.minute + 1, row.sent, row.once, row.twice, row.lost, row.wrong, row.failed, row.pending,
      millis(row.p50Seconds), millis(row.p99Seconds), row.replans, mebibytes(row.daemonRssKiB));
  if (!row.events.empty()) line += fmt::format("; {}", fmt::join(row.events, "; "));
  return line;
}

std::string summaryLine(const Totals& totals) {
  return fmt::format("soak: sent {}, once {}, twice {}, lost {}, wrong {}", totals.sent, totals.once, totals.twice,
                     totals.lost, totals.wrong);
}

std::string memoryLines(const std::vector<MemoryRow>& rows, bool withEnd) {
  std::string text;
  for (const MemoryRow& row : rows) {
    if (!withEnd) {
      text += fmt::format("  {:<8} {:>8} MiB\n", row.name, mebibytes(row.startKiB));
      continue;
    }
    text += fmt::format("  {:<8} {:>8} MiB -> {:>8} MiB ({} MiB){}{}\n", row.name, mebibytes(row.startKiB),
                        mebibytes(row.endKiB), growth(row), row.endKiB ? "" : ", not running at the end",
                        row.restarts > 0 ? fmt::format(", {}: the end figure is a new process", restartText(row)) : "");
  }
  return text;
}

std::string markdownReport(const ReportHeader& header, const std::vector<MinuteRow>& rows, const SoakRecord& record,
                           const std::vector<MemoryRow>& memory, double now) {
  const Totals totals = record.totals(now);
  std::string out = "# cleave soak report\n\n";
  out += fmt::format("- topology: `{}`, model `{}`\n", header.topology, header.model);
  out += fmt::format("- inputs: {}; each result compared bit for bit with the single-process runtime's\n", header.inputs);
  out += fmt::format("- {:.1f} minutes at {:.1f} requests/s; SIGKILL every {:.2f} min, rotating over {}\n",
                     header.minutes, header.rate, header.killEveryMinutes, fmt::join(header.killRotation, ", "));
  out += fmt::format("- lost: no answer within {:.0f} s of sending; fleet state and logs: `{}`\n",
                     header.lostAfterSeconds, header.stateDir);
  out += fmt::format("- **{}**, failed {}\n\n", summaryLine(totals), totals.failed);

  out += "## Per minute (requests by the minute they were sent)\n\n";
  out += "| minute | sent | once | twice | lost | wrong | failed | p50 ms | p99 ms | re-plans | daemon MiB | events |\n";
  out += "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
  for (const MinuteRow& row : rows)
    out += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", row.minute + 1, row.sent,
                       row.once, row.twice, row.lost, row.wrong, row.failed, millis(row.p50Seconds),
                       millis(row.p99Seconds), row.replans, mebibytes(row.daemonRssKiB), fmt::join(row.events, "; "));

  out += "\n## Resident memory (VmRSS) after warm-up and at the end\n\n";
  out += "| process | start MiB | end MiB | growth MiB | note |\n|---|---:|---:|---:|---|\n";
  for (const MemoryRow& row : memory)
    out += fmt::format("| {} | {} | {} | {} | {} |\n", row.name, mebibytes(row.startKiB), mebibytes(row.endKiB),
                       growth(row), row.restarts > 0 ? restartText(row) : "");

  out += "\n## Requests that did not come back exactly once and right\n\n";
  out += "| request | daemon id | image | sent at s | answers at s | outcome | daemon said |\n|---:|---:|---:|---:|---|---|---|\n";
  size_t listed = 0;
  constexpr size_t MAX_LISTED = 2000;  // a wedged fleet loses thousands; the first ones tell the story
  for (const auto& [id, request] : record.requests()) {
    const Outcome outcome = record.outcome(request, now);
    if (outcome == Outcome::Once || outcome == Outcome::Pending) continue;
    if (++listed > MAX_LISTED) break;
    std::vector<std::string> answers;
    for (double s : request.answerSeconds) answers.push_back(fmt::format("{:.2f}", s));
    out += fmt::format("| {} | {} | {} | {:.2f} | {} | {} | {} |\n", id, request.daemonId, request.image,
                       request.sentSeconds, answers.empty() ? "-" : fmt::format("{}", fmt::join(answers, ", ")),
                       outcomeName(outcome), request.failure);
  }
  if (listed == 0) out += "| - | | | | | none | |\n";
  return out;
}

std::string csvTable(const std::vector<MinuteRow>& rows) {
  std::string out = "minute,sent,once,twice,lost,wrong,failed,p50_ms,p99_ms,replans,daemon_mib,events\n";
  for (const MinuteRow& row : rows)
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},\"{}\"\n", row.minute + 1, row.sent, row.once, row.twice,
                       row.lost, row.wrong, row.failed, millis(row.p50Seconds), millis(row.p99Seconds), row.replans,
                       mebibytes(row.daemonRssKiB), fmt::join(row.events, "; "));
  return out;
}

}  // namespace cleave::soak

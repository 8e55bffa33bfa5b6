// Text a soak run prints and writes: the line per minute, the markdown report (per-minute table,
// memory growth, every lost, doubled, wrong or failed request) and the same table as CSV.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tools/soak/soak_record.h"

namespace cleave::soak {

// Resident memory of one fleet process after warm-up and at the end.
struct MemoryRow {
  std::string name;  // "daemon" or the device
  std::optional<uint64_t> startKiB, endKiB;
  int restarts = 0;  // the end figure is of a later process than the start figure when > 0
};

struct ReportHeader {
  std::string topology, model, inputs, stateDir;
  double minutes = 0, rate = 0, killEveryMinutes = 0, lostAfterSeconds = 0;
  std::vector<std::string> killRotation;
};

// "minute 3: sent 1200, once 1187, ... ; killed pi1" (a row as known so far).
std::string minuteLine(const MinuteRow& row);
// "soak: sent S, once O, twice T, lost L, wrong W"
std::string summaryLine(const Totals& totals);
// One line per process: the start figure, and with `withEnd` the end figure and the growth.
std::string memoryLines(const std::vector<MemoryRow>& rows, bool withEnd);
std::string markdownReport(const ReportHeader& header, const std::vector<MinuteRow>& rows, const SoakRecord& record,
                           const std::vector<MemoryRow>& memory, double now);
std::string csvTable(const std::vector<MinuteRow>& rows);

}  // namespace cleave::soak

// For tests: a second, deliberately naive reading of a bandwidth trace (a linear scan for the
// row in force, the period as the format defines it), to check config/bandwidth_trace and the
// shaper against.
#pragma once

#include <cmath>
#include <utility>
#include <vector>

#include "config/bandwidth_trace.h"

namespace cleave::config::testing {

struct ReferenceTrace {
  std::vector<TracePoint> rows;
  double periodSeconds;

  explicit ReferenceTrace(std::vector<TracePoint> r) : rows(std::move(r)) {
    size_t n = rows.size();
    periodSeconds = rows[n - 1].timeSeconds + (rows[n - 1].timeSeconds - rows[n - 2].timeSeconds);
  }
  const TracePoint& rowAt(double t) const {
    double offset = std::fmod(t, periodSeconds);
    const TracePoint* row = &rows[0];
    for (const TracePoint& candidate : rows)
      if (candidate.timeSeconds <= offset) row = &candidate;
    return *row;
  }
  double bytesPerSecond(double t) const { return rowAt(t).bitsPerSecond / 8; }
};

}  // namespace cleave::config::testing

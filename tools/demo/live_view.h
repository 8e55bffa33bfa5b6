// The demo's live terminal view: what the driver knows right now, drawn as one screen of text
// (ANSI: the caller clears and redraws). Pure, so it can be tested and printed without a tty.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cleave::demo {

struct LiveLink {
  std::string from, to;
  double trueBytesPerSecond = 0;
  std::optional<double> measuredBytesPerSecond;
};

struct LiveState {
  std::string title;
  size_t done = 0, total = 0, failed = 0, correct = 0;
  double elapsedSeconds = 0;
  uint64_t epoch = 0;
  std::vector<std::string> placement;  // one line per device: "camera   nodes 0-11"
  double predictedSeconds = 0;
  std::vector<LiveLink> links;
  std::optional<double> p50, p95;        // of the recent window
  std::vector<std::string> recentReplans;  // newest last
};

// `colour`: ANSI bold/colour codes (off when the output is not a terminal).
std::string renderLiveView(const LiveState& state, bool colour);

}  // namespace cleave::demo

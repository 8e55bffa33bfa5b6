// What the demo driver collects while a fleet streams requests through a re-planning split, and
// what renderDemoReport (demo_report.h) turns into the HTML report. Plain data, no behaviour: the
// driver fills it, the report reads it, and tests build it by hand.
//
// Units are SI throughout: seconds since the demo started, bytes per second, seconds of latency.
// Values that cannot be shown are skipped by the report rather than rejected (a non-finite
// latency, a bandwidth of 0 on a log axis), so a partly filled record still renders.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cleave::demo {

// One inference request as the client saw it.
struct RequestSample {
  double startSeconds = 0;    // when it was submitted, seconds since the demo started
  double latencySeconds = 0;  // submit to result; ignored for failed requests
  uint64_t epoch = 0;         // the plan epoch it ran under
  bool correct = false;       // the predicted class matched the label (only meaningful if !failed)
  bool failed = false;        // no result came back (error or timeout)
};

// One observation of a link: the bandwidth the shaper enforced and, when the daemon had one, its
// estimate at that moment.
struct LinkSample {
  double seconds = 0;
  double trueBytesPerSecond = 0;                 // what the trace imposed
  std::optional<double> measuredBytesPerSecond;  // the daemon's estimate; none before the first
};

// One directed link's samples, in ascending time.
struct LinkSeries {
  std::string from, to;  // device names
  std::vector<LinkSample> samples;
};

// A plan change. The first plan of the run is recorded too, with no previous prediction.
struct Replan {
  double seconds = 0;                         // when the new plan took effect
  uint64_t epoch = 0;                         // the new plan's epoch
  std::string reason;                         // why the daemon re-planned ("camera-pi1 bandwidth 2.1 Mbps -> 450 kbps")
  std::optional<double> oldPredictedSeconds;  // the old plan's predicted latency at the new bandwidths
  double newPredictedSeconds = 0;             // the new plan's predicted latency
  std::string placement;                      // "camera 0-3 | pi1 3-9 | cloud 9-21"
};

// Compute one device spent running stages over the whole demo.
struct DeviceLoad {
  std::string device;
  double computeSeconds = 0;  // summed stage run time
  uint64_t stageRuns = 0;     // how many stage executions that was
};

// One point of a Neurosurgeon curve: the best plan's predicted latency at one bandwidth.
struct CurvePoint {
  double bytesPerSecond = 0;
  double latencySeconds = 0;
  std::string placement;  // the optimal plan there, same spelling as Replan::placement
};

// Predicted latency of the optimal plan as one link's bandwidth sweeps, all else fixed. Points in
// ascending bandwidth; consecutive points with the same placement form one segment. Where two
// placements meet, a point of each at the same bandwidth draws the breakpoint exactly.
struct CurveSeries {
  std::string link;  // "camera-pi1": the report shades the range the trace covered on the
                     // LinkSeries whose "from-to" (or "to-from") spells the same
  std::vector<CurvePoint> points;
};

// A free-form line for the report's header ("agents" -> "4", "commit" -> "37f8225").
struct Fact {
  std::string label, value;
};

struct DemoRecord {
  std::string title = "cleave demo";
  std::string topology;  // e.g. the topology file or its description
  std::string model;
  std::string trace;
  std::string strategy = "split";
  double durationSeconds = 0;  // length of the run; 0 = derive from the samples
  std::vector<RequestSample> requests;
  std::vector<LinkSeries> links;
  std::vector<Replan> replans;  // ascending time
  std::vector<DeviceLoad> load;
  std::vector<CurveSeries> curves;
  std::vector<Fact> facts;  // extra header lines, shown in order
};

}  // namespace cleave::demo

// Bandwidth-trace CSV (configs/traces/*.csv): BandwidthTrace::parse, which load calls on the
// file's text; a trace that parses is then queried the way the link shaper queries it, since
// its arithmetic (wrapping, integrating across rows and drop-outs) is where a bad trace would bite.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/bandwidth_trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  cleave::Result<cleave::config::BandwidthTrace> trace = cleave::config::BandwidthTrace::parse(text, "fuzz.csv");
  if (!trace) return 0;
  for (double t : {0.0, 0.5, 1.0, 7.25, 1e3, 1e9}) {
    double rate = trace->bytesPerSecondAt(t);
    double rtt = trace->rttSecondsAt(t);
    if (!(rate >= 0) || !(rtt >= 0)) std::abort();  // parse promised both non-negative
    for (double bytes : {1.0, 1500.0, 1e6}) {
      double end = trace->transmitEnd(t, bytes);
      if (!(end >= t)) std::abort();  // delivery cannot finish before it starts (or be NaN)
      (void)trace->bytesBetween(t, end);
    }
  }
  return 0;
}

// Quantities as people write them in topology files and on the command line ("250kbps",
// "512KiB", "40ms", "525M", "4pJ"), parsed to SI numbers, and printed back the same way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/result.h"

namespace cleave::planner {

// Each parser accepts a number followed by optional spaces and a unit; the error says which
// units are accepted.
Result<double> parseBandwidth(std::string_view text);  // bits ("bps" "kbps" "Mbps" "Gbps") or bytes ("B/s" ...) -> bytes/s
Result<int64_t> parseBytes(std::string_view text);     // "B", SI "kB" "MB" "GB" (and "KB"), IEC "KiB" "MiB" "GiB"
Result<double> parseSeconds(std::string_view text);    // "us" "ms" "s"
Result<double> parseRate(std::string_view text);       // MAC/s: "", "k" "M" "G" "T", optionally followed by "MAC/s"
Result<double> parseJoules(std::string_view text);     // "pJ" "nJ" "uJ" "mJ" "J"

std::string formatBytes(int64_t bytes);          // "1.50 MiB"
std::string formatBandwidth(double bytesPerSecond);  // "20.0 Mbps"
std::string formatSeconds(double seconds);       // "12.3 ms"
std::string formatRate(double perSecond);        // "1.20G"
std::string formatJoules(double joules);         // "3.40 mJ"

}  // namespace cleave::planner

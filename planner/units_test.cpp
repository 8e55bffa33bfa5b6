#include "planner/units.h"

#include <doctest/doctest.h>

namespace cleave::planner {

TEST_CASE("quantities parse to SI numbers") {
  CHECK(*parseBandwidth("250kbps") == doctest::Approx(31250));
  CHECK(*parseBandwidth("20Mbps") == doctest::Approx(2.5e6));
  CHECK(*parseBandwidth(" 1.5 Gbps ") == doctest::Approx(1.875e8));
  CHECK(*parseBandwidth("3MB/s") == doctest::Approx(3e6));
  CHECK(*parseBytes("512KiB") == 524288);
  CHECK(*parseBytes("512kB") == 512000);
  CHECK(*parseBytes("4GiB") == 4294967296);
  CHECK(*parseBytes("1024") == 1024);
  CHECK(*parseSeconds("40ms") == doctest::Approx(0.04));
  CHECK(*parseSeconds("0.0645us") == doctest::Approx(6.45e-8));
  CHECK(*parseSeconds("2s") == doctest::Approx(2));
  CHECK(*parseRate("525M") == doctest::Approx(5.25e8));
  CHECK(*parseRate("1.2 GMAC/s") == doctest::Approx(1.2e9));
  CHECK(*parseRate("3e9") == doctest::Approx(3e9));
  CHECK(*parseJoules("4pJ") == doctest::Approx(4e-12));
  CHECK(*parseJoules("0.1 uJ") == doctest::Approx(1e-7));
}

TEST_CASE("bad quantities say what was expected") {
  CHECK(parseBandwidth("20MBps").error().message ==
        "'20MBps' has unit 'MBps', which is not a bandwidth unit ('bps', 'kbps', 'Mbps', 'Gbps', 'B/s', 'kB/s', "
        "'MB/s', 'GB/s')");
  CHECK(parseBandwidth("fast").error().message.find("is not a bandwidth: expected a number and a unit") !=
        std::string::npos);
  CHECK_FALSE(parseBandwidth("20").ok());  // a bandwidth needs its unit: bits or bytes?
  CHECK_FALSE(parseBytes("-5MB").ok());
  CHECK_FALSE(parseSeconds("5 min").ok());
  CHECK_FALSE(parseRate("1.2 GFLOPS").ok());
  CHECK_FALSE(parseJoules("nan J").ok());
  CHECK_FALSE(parseBytes("1e30").ok());
}

TEST_CASE("quantities print the way people write them") {
  CHECK(formatBytes(1536) == "1.5 KiB");
  CHECK(formatBytes(3 << 20) == "3.00 MiB");
  CHECK(formatBandwidth(31250) == "250 kbps");
  CHECK(formatBandwidth(2.5e6) == "20 Mbps");
  CHECK(formatBandwidth(124'999'999.9) == "1 Gbps");
  CHECK(formatSeconds(0.99999) == "1 s");
  CHECK(formatSeconds(0.0123) == "12.3 ms");
  CHECK(formatRate(5.25e8) == "525M");
  CHECK(formatJoules(3.4e-3) == "3.4 mJ");
}

}  // namespace cleave::planner

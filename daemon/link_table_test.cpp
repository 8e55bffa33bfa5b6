#include "daemon/link_table.h"

#include <doctest/doctest.h>

using namespace cleave;
using namespace cleave::daemon;

namespace {

planner::Fleet chain() {
  planner::Fleet fleet;
  for (const char* name : {"a", "b", "c"}) {
    planner::DeviceProfile d;
    d.name = name;
    fleet.devices.push_back(d);
  }
  fleet.links.push_back({0, 1, 1000.0, 500.0, 0.01});
  fleet.links.push_back({1, 2, 2000.0, 2000.0, 0.02});
  return fleet;
}

}  // namespace

TEST_CASE("pins win over measurements, which win over the topology's figures, per direction") {
  planner::Fleet fleet = chain();
  LinkTable table(fleet);
  CHECK(table.measure("a", "b", {4000.0, 0.03}));
  CHECK_FALSE(table.measure("a", "c", {1.0, 0.0}));  // no planning link joins them
  REQUIRE(table.pin("c", "b", 100.0, std::nullopt).ok());
  table.applyTo(fleet);
  CHECK(fleet.links[0].bytesPerSecond == 4000.0);       // measured
  CHECK(fleet.links[0].reverseBytesPerSecond == 500.0);  // declared
  CHECK(fleet.links[0].rttSeconds == doctest::Approx(0.03));
  CHECK(fleet.links[1].bytesPerSecond == 2000.0);
  CHECK(fleet.links[1].reverseBytesPerSecond == 100.0);  // pinned, RTT kept
  CHECK(fleet.links[1].rttSeconds == doctest::Approx(0.02));
  REQUIRE(table.clear("c", "b").ok());
  table.applyTo(fleet);
  CHECK(fleet.links[1].reverseBytesPerSecond == 2000.0);
  CHECK(table.pin("a", "c", 1.0, std::nullopt).error().message == "no link joins 'a' and 'c' in the topology");
  CHECK_FALSE(table.pin("a", "b", 0.0, std::nullopt).ok());
  CHECK_FALSE(table.pin("a", "b", 10.0, -1.0).ok());
}

TEST_CASE("the reason names the direction that moved by the largest factor") {
  LinkTable table(chain());
  LinkSnapshot before = table.snapshot();
  CHECK_FALSE(table.biggestMove(before));
  table.measure("a", "b", {1500.0, 0.01});   // x1.5
  table.measure("b", "c", {250.0, 0.01});    // x1/8: the biggest
  table.measure("c", "b", {12000.0, 0.01});  // x6
  CHECK(*table.biggestMove(before) == "link b -> c moved from 16 kbps to 2 kbps");
  // Links the plans send on come first, even when another moved further.
  CHECK(*table.biggestMove(before, {{"a", "b"}, {"c", "b"}}) == "link c -> b moved from 16 kbps to 96 kbps");
  CHECK(*table.biggestMove(before, {{"b", "a"}}) == "link b -> c moved from 16 kbps to 2 kbps");
  REQUIRE(table.pin("b", "c", 250.0 * 1000, 0.0).ok());
  CHECK(table.biggestMove(before)->find("(pinned)") != std::string::npos);
}

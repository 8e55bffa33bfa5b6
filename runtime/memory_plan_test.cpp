#include "runtime/memory_plan.h"

#include <random>

#include <doctest/doctest.h>

using namespace cleave;

namespace {

// Independent check: no two buffers with overlapping lifetimes overlap in memory.
void checkNoConflicts(const std::vector<BufferRequest>& requests, const MemoryPlan& plan) {
  for (size_t a = 0; a < requests.size(); ++a) {
    CHECK(plan.offsets[a] % ARENA_ALIGNMENT == 0);
    CHECK(plan.offsets[a] + requests[a].bytes <= plan.arenaBytes);
    for (size_t b = a + 1; b < requests.size(); ++b) {
      bool timeOverlap = requests[a].firstStep <= requests[b].lastStep && requests[b].firstStep <= requests[a].lastStep;
      bool spaceOverlap = plan.offsets[a] < plan.offsets[b] + requests[b].bytes &&
                          plan.offsets[b] < plan.offsets[a] + requests[a].bytes;
      if (requests[a].bytes > 0 && requests[b].bytes > 0) CHECK_FALSE((timeOverlap && spaceOverlap));
    }
  }
}

}  // namespace

TEST_CASE("a chain reuses memory: arena is two buffers, not all of them") {
  // x0 -> x1 -> x2 -> x3, each 1 KiB, each read only by the next step.
  std::vector<BufferRequest> chain;
  for (int i = 0; i < 4; ++i) chain.push_back({1024, i, i + 1});
  MemoryPlan plan = planMemory(chain);
  checkNoConflicts(chain, plan);
  CHECK(plan.arenaBytes == 2048);
  CHECK(plan.peakLiveBytes == 2048);
}

TEST_CASE("a skip connection keeps its buffer alive across the branch") {
  std::vector<BufferRequest> requests = {{4096, 0, 3}, {1024, 1, 2}, {1024, 2, 3}, {4096, 3, 4}};
  MemoryPlan plan = planMemory(requests);
  checkNoConflicts(requests, plan);
  CHECK(plan.peakLiveBytes == 4096 + 1024 + 4096);  // step 3: the skip, the branch's end, the join
  CHECK(plan.arenaBytes >= plan.peakLiveBytes);
}

TEST_CASE("random lifetimes never conflict, and the arena is within 2x of the live peak") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<BufferRequest> requests;
    int count = 1 + static_cast<int>(rng() % 30);
    for (int i = 0; i < count; ++i) {
      int64_t first = static_cast<int64_t>(rng() % 40);
      requests.push_back({static_cast<int64_t>(64 * (1 + rng() % 64)), first, first + static_cast<int64_t>(rng() % 8)});
    }
    MemoryPlan plan = planMemory(requests);
    checkNoConflicts(requests, plan);
    CHECK(plan.arenaBytes >= plan.peakLiveBytes);
    CHECK(plan.arenaBytes <= 2 * plan.peakLiveBytes);
  }
}

#include "runtime/memory_plan.h"

#include <algorithm>
#include <map>
#include <numeric>

namespace cleave {
namespace {

int64_t aligned(int64_t bytes) { return (bytes + ARENA_ALIGNMENT - 1) / ARENA_ALIGNMENT * ARENA_ALIGNMENT; }

bool lifetimesOverlap(const BufferRequest& a, const BufferRequest& b) {
  return a.firstStep <= b.lastStep && b.firstStep <= a.lastStep;
}

}  // namespace

MemoryPlan planMemory(std::span<const BufferRequest> requests) {
  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return requests[a].bytes > requests[b].bytes; });

  std::vector<size_t> placed;
  for (size_t r : order) {
    int64_t size = aligned(requests[r].bytes);
    // Blocks already placed whose lifetimes clash with this one, by offset.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (size_t p : placed)
      if (lifetimesOverlap(requests[r], requests[p])) busy.emplace_back(plan.offsets[p], aligned(requests[p].bytes));
    std::sort(busy.begin(), busy.end());
    // Lowest gap that fits (first fit over the sorted busy ranges).
    int64_t offset = 0;
    for (const auto& [start, length] : busy) {
      if (start - offset >= size) break;
      offset = std::max(offset, start + length);
    }
    plan.offsets[r] = offset;
    plan.arenaBytes = std::max(plan.arenaBytes, offset + size);
    placed.push_back(r);
  }

  std::map<int64_t, int64_t> delta;  // step -> change in live bytes
  for (const BufferRequest& req : requests) {
    delta[req.firstStep] += req.bytes;
    delta[req.lastStep + 1] -= req.bytes;
  }
  int64_t live = 0;
  for (const auto& [step, change] : delta) {
    live += change;
    plan.peakLiveBytes = std::max(plan.peakLiveBytes, live);
  }
  return plan;
}

}  // namespace cleave

// Activation memory plan: tensors whose lifetimes do not overlap share bytes of one arena.
// Greedy by size (largest first, lowest fitting offset), the strategy TFLite Micro's
// GreedyMemoryPlanner uses; close to optimal on CNN chains and cheap to compute.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace cleave {

struct BufferRequest {
  int64_t bytes = 0;
  int64_t firstStep = 0;  // step that writes it
  int64_t lastStep = 0;   // last step that reads it (inclusive)
};

struct MemoryPlan {
  std::vector<int64_t> offsets;  // one per request
  int64_t arenaBytes = 0;        // size of the arena the offsets fit in
  int64_t peakLiveBytes = 0;     // lower bound: the most bytes live at any one step
};

constexpr int64_t ARENA_ALIGNMENT = 64;

MemoryPlan planMemory(std::span<const BufferRequest> requests);

}  // namespace cleave

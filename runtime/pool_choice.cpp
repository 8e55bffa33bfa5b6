#include "runtime/pool_choice.h"

#include <algorithm>

#include <fmt/format.h>

namespace cleave {
namespace {

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0.0 : values[values.size() / 2];
}

}  // namespace

// After WARMUP_RUNS unmeasured runs (first-touch page faults, cold caches), blocks of
// BLOCK_RUNS runs alternate between the calling thread alone and the pool, the first run of each
// block unmeasured: it pays for the cache state the other way left (data the other core wrote),
// which is not what either way costs in steady state. Alternating blocks rather than one block
// each way spreads a change in the machine's load over both.
int PoolChoice::block() const { return (runs_ - WARMUP_RUNS) / BLOCK_RUNS; }

bool PoolChoice::usePool() const {
  if (decided_ != Decision::Measuring) return decided_ == Decision::Pool;
  return runs_ >= WARMUP_RUNS && block() % 2 == 1;
}

void PoolChoice::record(double ms) {
  if (decided_ != Decision::Measuring) return;
  const bool pooled = usePool();
  const bool measured = runs_ >= WARMUP_RUNS && (runs_ - WARMUP_RUNS) % BLOCK_RUNS != 0;
  ++runs_;
  if (!measured) return;
  (pooled ? pooledMs_ : serialMs_).push_back(ms);
  if (static_cast<int>(pooledMs_.size()) >= RUNS_EACH && static_cast<int>(serialMs_.size()) >= RUNS_EACH)
    decided_ = poolWins(pooledMs_, serialMs_) ? Decision::Pool : Decision::Serial;
}

bool PoolChoice::poolWins(std::vector<double> pooledMs, std::vector<double> serialMs) {
  return median(std::move(pooledMs)) <= median(std::move(serialMs));
}

std::string PoolChoice::describe() const {
  if (decided_ == Decision::Measuring) return "measuring";
  return fmt::format("{} (median {:.3f} ms with the pool, {:.3f} ms on one thread, over {} runs each)",
                     decided_ == Decision::Pool ? "pool" : "one thread", median(pooledMs_), median(serialMs_),
                     RUNS_EACH);
}

}  // namespace cleave

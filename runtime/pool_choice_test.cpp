// PoolChoice: the order in which a threaded session's first runs use the pool or not, which of
// them are measured, and the decision from their medians.
#include "runtime/pool_choice.h"

#include <doctest/doctest.h>

using namespace cleave;

TEST_CASE("PoolChoice alternates blocks after the warm-up and measures all but each block's first run") {
  PoolChoice choice;
  std::vector<bool> pooled;
  for (int run = 0; choice.measuring(); ++run) {
    REQUIRE(run < 100);
    pooled.push_back(choice.usePool());
    choice.record(choice.usePool() ? 1.0 : 2.0);
  }
  const int blocks = 2 * PoolChoice::RUNS_EACH / (PoolChoice::BLOCK_RUNS - 1);
  REQUIRE(pooled.size() == static_cast<size_t>(PoolChoice::WARMUP_RUNS + blocks * PoolChoice::BLOCK_RUNS));
  for (int run = 0; run < PoolChoice::WARMUP_RUNS; ++run) CHECK_FALSE(pooled[static_cast<size_t>(run)]);
  for (int block = 0; block < blocks; ++block)
    for (int i = 0; i < PoolChoice::BLOCK_RUNS; ++i)
      CHECK(pooled[static_cast<size_t>(PoolChoice::WARMUP_RUNS + block * PoolChoice::BLOCK_RUNS + i)] == (block % 2 == 1));
  CHECK(choice.usePool());  // the pool's runs took 1 ms, the others 2
  CHECK(choice.describe().find("pool (median 1.000 ms with the pool, 2.000 ms on one thread") == 0);
}

TEST_CASE("PoolChoice keeps the calling thread when the pool was slower, ignoring unmeasured runs") {
  PoolChoice choice;
  int run = 0;
  while (choice.measuring()) {
    const bool firstOfBlock = run >= PoolChoice::WARMUP_RUNS && (run - PoolChoice::WARMUP_RUNS) % PoolChoice::BLOCK_RUNS == 0;
    // Warm-up and first-of-block runs are very slow; they must not count.
    const double ms = run < PoolChoice::WARMUP_RUNS || firstOfBlock ? 1000.0 : choice.usePool() ? 3.0 : 2.0;
    choice.record(ms);
    ++run;
  }
  CHECK_FALSE(choice.usePool());
  CHECK(choice.describe() == "one thread (median 3.000 ms with the pool, 2.000 ms on one thread, over 6 runs each)");
  choice.record(0.1);  // decided: later runs change nothing
  CHECK_FALSE(choice.usePool());
}

TEST_CASE("poolWins compares medians, so one outlier does not decide") {
  CHECK(PoolChoice::poolWins({1, 1, 1, 50, 1, 1}, {2, 2, 2, 2, 2, 2}));
  CHECK_FALSE(PoolChoice::poolWins({3, 3, 3, 3, 3, 3}, {2, 2, 0.1, 2, 2, 2}));
}

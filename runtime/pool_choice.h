// Whether a threaded session's runs should use its pool at all, decided by measuring. Handing
// steps to a second thread pays only where they are large and the cores do not share much;
// on a 2-vCPU VM two threads made mobilenet_v3_small slower than one (2.0 against 1.5 ms: its
// steps are small, and a core reading what the other just wrote pays for the transfer), while
// resnet18 ran 1.4x faster. So a session's first runs alternate, in blocks, between the pool and
// the calling thread alone, and the faster by median is kept. Both ways compute the same bits (every
// kernel's arithmetic is independent of how its work is split), so only the time differs.
#pragma once

#include <string>
#include <vector>

namespace cleave {

class PoolChoice {
 public:
  // Runs measured each way before deciding, in blocks (pool_choice.cpp says how).
  static constexpr int WARMUP_RUNS = 2;
  static constexpr int BLOCK_RUNS = 3;  // the first of each unmeasured
  static constexpr int RUNS_EACH = 6;

  // True while runs are still being measured.
  bool measuring() const { return decided_ == Decision::Measuring; }
  // Whether the next run should use the pool.
  bool usePool() const;
  // The time of the run that usePool() chose; decides once both ways have RUNS_EACH times.
  void record(double ms);
  // "measuring", or which way was kept and the two medians.
  std::string describe() const;

  // The decision from the two sets of times: the pool unless the calling thread alone was
  // faster by median.
  static bool poolWins(std::vector<double> pooledMs, std::vector<double> serialMs);

 private:
  enum class Decision { Measuring, Pool, Serial };
  int block() const;
  Decision decided_ = Decision::Measuring;
  int runs_ = 0;
  std::vector<double> pooledMs_, serialMs_;
};

}  // namespace cleave

// A fixed pool of worker threads for intra-op parallelism. Owned by a Session; kernels reach it
// through RunContext. Single-threaded sessions have no pool at all.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace cleave {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // Runs fn(task) for task in [0, tasks) across the workers and the calling thread; returns
  // when every task is done.
  void run(int64_t tasks, const std::function<void(int64_t)>& fn);

 private:
  void workerLoop();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int64_t)>* job_ = nullptr;
  int64_t nextTask_ = 0;
  int64_t taskCount_ = 0;
  int64_t finished_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

}  // namespace cleave

#include "runtime/thread_pool.h"

#include "runtime/blas.h"

namespace cleave {

ThreadPool::ThreadPool(int threads) {
  keepBlasOnCallingThread();  // the workers call sgemm concurrently; it must not add threads of its own
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { workerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::run(int64_t tasks, const std::function<void(int64_t)>& fn) {
  if (tasks <= 0) return;
  std::unique_lock lock(mutex_);
  job_ = &fn;
  nextTask_ = 0;
  taskCount_ = tasks;
  finished_ = 0;
  ++generation_;
  wake_.notify_all();
  // The caller works too.
  while (nextTask_ < taskCount_) {
    int64_t task = nextTask_++;
    lock.unlock();
    fn(task);
    lock.lock();
    ++finished_;
  }
  done_.wait(lock, [&] { return finished_ == taskCount_; });
  job_ = nullptr;
}

void ThreadPool::workerLoop() {
  uint64_t seen = 0;
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || (generation_ != seen && job_ && nextTask_ < taskCount_); });
    if (stopping_) return;
    seen = generation_;
    while (job_ && nextTask_ < taskCount_) {
      int64_t task = nextTask_++;
      const auto* job = job_;
      lock.unlock();
      (*job)(task);
      lock.lock();
      if (++finished_ == taskCount_) done_.notify_all();
    }
  }
}

}  // namespace cleave

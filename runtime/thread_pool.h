// A fixed pool of worker threads for intra-op parallelism. Owned by a Session; kernels reach it
// through RunContext. Single-threaded sessions have no pool at all.
//
// With XNNPACK the pool is pthreadpool, the one XNNPACK's operators run on (handle()), so a
// session has one set of threads for both kinds of kernels; its workers spin briefly between
// jobs before they sleep, which is what makes two threads pay on networks of many small ops.
// Without it, a mutex-and-condition-variable pool of our own.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

struct pthreadpool;

namespace cleave {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const;
  // Runs fn(task) for task in [0, tasks) across the workers and the calling thread; returns
  // when every task is done.
  void run(int64_t tasks, const std::function<void(int64_t)>& fn);
  // Puts the workers to sleep now rather than after their spin: a spinning worker slows the
  // calling thread's own work on a machine whose cores share resources (a VM's vCPUs).
  void park();
  // The pthreadpool behind the pool, for XNNPACK's operators; null in a build without it.
  pthreadpool* handle() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cleave

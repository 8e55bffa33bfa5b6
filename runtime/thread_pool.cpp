#include "runtime/thread_pool.h"

#include "runtime/blas.h"
#include "runtime/sanitizer_handover.h"

#ifdef CLEAVE_HAVE_XNNPACK
#include <pthreadpool.h>
#else
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>
#endif

namespace cleave {

#ifdef CLEAVE_HAVE_XNNPACK

struct ThreadPool::Impl {
  pthreadpool_t pool = nullptr;
};

ThreadPool::ThreadPool(int threads) : impl_(std::make_unique<Impl>()) {
  keepBlasOnCallingThread();  // the workers call sgemm concurrently; it must not add threads of its own
  impl_->pool = pthreadpool_create(static_cast<size_t>(threads));
  if (!impl_->pool) throw std::bad_alloc();
}

ThreadPool::~ThreadPool() { pthreadpool_destroy(impl_->pool); }

int ThreadPool::size() const { return static_cast<int>(pthreadpool_get_threads_count(impl_->pool)); }

pthreadpool* ThreadPool::handle() const {
#if defined(__SANITIZE_THREAD__)
  // XNNPACK hands its operators' tasks to the workers inside pthreadpool, which TSan cannot see
  // into, and XNNPACK's memcpy calls are intercepted: every read of an activation in a worker
  // would be reported as racing with the write before the hand-over. Under TSan XNNPACK's
  // operators run on the calling thread; our own tasks (run(), annotated below) still use the
  // workers, so everything TSan can check it checks.
  return nullptr;
#else
  return impl_->pool;
#endif
}

namespace {

// pthreadpool hands work over through atomics and futexes in a library ThreadSanitizer does not
// see into (sanitizer_handover.h): a job's tasks start after run() was called and finish before
// it returns, which is what pthreadpool guarantees.
struct Job {
  const std::function<void(int64_t)>* fn;
  char started;   // tokens for the sanitizer: their addresses are what matters
  char finished;
};

}  // namespace

void ThreadPool::run(int64_t tasks, const std::function<void(int64_t)>& fn) {
  if (tasks <= 0) return;
  Job job{&fn, 0, 0};
  auto task = [](void* context, size_t i) {
    Job& j = *static_cast<Job*>(context);
    takeOver(&j.started);
    (*j.fn)(static_cast<int64_t>(i));
    handOver(&j.finished);
  };
  handOver(&job.started);
  pthreadpool_parallelize_1d(impl_->pool, task, &job, static_cast<size_t>(tasks), 0);
  takeOver(&job.finished);
}

void ThreadPool::park() {
  // An empty job, one task per thread, after which the workers wait in the kernel
  // (PTHREADPOOL_FLAG_YIELD_WORKERS) instead of spinning for the next one.
  auto nothing = [](void*, size_t) {};
  pthreadpool_parallelize_1d(impl_->pool, nothing, nullptr, static_cast<size_t>(size()),
                             PTHREADPOOL_FLAG_YIELD_WORKERS);
}

#else

struct ThreadPool::Impl {
  std::vector<std::thread> workers;
  std::mutex mutex;
  std::condition_variable wake;
  std::condition_variable done;
  const std::function<void(int64_t)>* job = nullptr;
  int64_t nextTask = 0;
  int64_t taskCount = 0;
  int64_t finished = 0;
  uint64_t generation = 0;
  bool stopping = false;

  void workerLoop() {
    uint64_t seen = 0;
    std::unique_lock lock(mutex);
    for (;;) {
      wake.wait(lock, [&] { return stopping || (generation != seen && job && nextTask < taskCount); });
      if (stopping) return;
      seen = generation;
      while (job && nextTask < taskCount) {
        int64_t task = nextTask++;
        const auto* current = job;
        lock.unlock();
        (*current)(task);
        lock.lock();
        if (++finished == taskCount) done.notify_all();
      }
    }
  }
};

ThreadPool::ThreadPool(int threads) : impl_(std::make_unique<Impl>()) {
  keepBlasOnCallingThread();  // the workers call sgemm concurrently; it must not add threads of its own
  for (int i = 1; i < threads; ++i) impl_->workers.emplace_back([this] { impl_->workerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  for (std::thread& worker : impl_->workers) worker.join();
}

int ThreadPool::size() const { return static_cast<int>(impl_->workers.size()) + 1; }

pthreadpool* ThreadPool::handle() const { return nullptr; }

void ThreadPool::run(int64_t tasks, const std::function<void(int64_t)>& fn) {
  if (tasks <= 0) return;
  Impl& s = *impl_;
  std::unique_lock lock(s.mutex);
  s.job = &fn;
  s.nextTask = 0;
  s.taskCount = tasks;
  s.finished = 0;
  ++s.generation;
  s.wake.notify_all();
  // The caller works too.
  while (s.nextTask < s.taskCount) {
    int64_t task = s.nextTask++;
    lock.unlock();
    fn(task);
    lock.lock();
    ++s.finished;
  }
  s.done.wait(lock, [&] { return s.finished == s.taskCount; });
  s.job = nullptr;
}

void ThreadPool::park() {}  // the workers already wait on a condition variable

#endif

}  // namespace cleave

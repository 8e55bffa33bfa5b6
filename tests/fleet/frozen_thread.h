// One thread of another process stopped with ptrace while the rest of the process runs on: a
// stand-in for a kernel that never returns (the process keeps heartbeating, its compute thread
// does nothing). The thread runs again when the FrozenThread goes. Needs ptrace rights over the
// process (root, or its parent with Yama's ptrace_scope at 1 or less).
#pragma once

#include <chrono>
#include <string>

#include "runtime/result.h"

namespace cleave::testing {

class FrozenThread {
 public:
  // Freezes the thread of `pid` named `threadName` (/proc/PID/task/TID/comm). It must be blocked
  // in a futex wait (idle on a condition variable, so it holds no lock the rest needs): freezing
  // a thread in the middle of its work could stop it holding a mutex, which is another failure.
  static Result<FrozenThread> freeze(int pid, const std::string& threadName);
  FrozenThread(FrozenThread&& other) noexcept : tid_(other.tid_) { other.tid_ = -1; }
  FrozenThread& operator=(FrozenThread&&) = delete;
  ~FrozenThread() { thaw(); }

  // Lets the thread run again (once; the destructor does it otherwise).
  void thaw();
  // After the process was sent SIGKILL: takes the thread's exit, which goes to the tracer (us);
  // until then the process cannot be reaped. Waits at most `timeout`; false when it did not end.
  bool reapAfterKill(std::chrono::milliseconds timeout);

 private:
  explicit FrozenThread(int tid) : tid_(tid) {}
  int tid_ = -1;
};

}  // namespace cleave::testing

// Happens-before edges that ThreadSanitizer cannot see for itself. pthreadpool and libzmq are
// not instrumented and hand work between threads through their own atomics and pipes; where our
// code gives an object to such a library on one thread and gets it back on another (a pool
// task, a zero-copy frame's free callback on ZeroMQ's I/O thread), the giver calls handOver and
// the taker takeOver with the same token, as the library's own ordering guarantees.
// No-ops outside TSan builds.
#pragma once

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace cleave {

#if defined(__SANITIZE_THREAD__)
inline void handOver(const void* token) { __tsan_release(const_cast<void*>(token)); }
inline void takeOver(const void* token) { __tsan_acquire(const_cast<void*>(token)); }
#else
inline void handOver(const void*) {}
inline void takeOver(const void*) {}
#endif

}  // namespace cleave

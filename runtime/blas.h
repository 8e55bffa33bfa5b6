// The BLAS that Eigen hands its matrix products to (EIGEN_USE_BLAS), when the build has one.
//
// cleave schedules its own threads (ThreadPool), so several of them call sgemm at once. Debian's
// serial OpenBLAS is built without USE_LOCKING: its buffer allocator (blas_memory_alloc) takes a
// slot with no lock, two concurrent calls can pack into the same buffer, and a threaded
// convolution now and then returned garbage (helgrind shows the race). The build therefore links
// the pthread build, whose allocator locks, and keeps its own threads off: each call runs on the
// thread that made it.
#pragma once

#include <string>

namespace cleave {

// Makes the BLAS run every call on the calling thread (OpenBLAS: one thread). Idempotent and
// cheap; Session::create and ThreadPool call it, so every run of the runtime has it set.
void keepBlasOnCallingThread();

// What the linked BLAS says of itself (OpenBLAS's build configuration), or "Eigen" when products
// stay in Eigen. For benchmark records and the test that checks the build is thread-safe.
std::string blasDescription();

// Threads the BLAS would use for one call (1 when products stay in Eigen).
int blasThreads();

}  // namespace cleave

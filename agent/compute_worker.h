// The compute thread. Stage runs (and the loading of a new epoch's stages, which builds
// kernels) happen here, never on the I/O thread, so a long stage cannot delay heartbeats or
// acks. Jobs go in through a mutex-guarded queue; finished jobs come back the same way, and the
// worker wakes the I/O thread through an eventfd that the I/O loop polls beside its network
// sockets (the loop only ever waits in zmq::poll). An eventfd is a counter: a write never fails
// and never waits, so no finished job can be left without a wake-up. (An inproc PAIR, used
// before, refuses a write when its lazily updated high-water mark says full.)
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "agent/plan_message.h"
#include "runtime/result.h"
#include "runtime/session.h"

namespace cleave::agent {

// Run one stage for one request. `next` and `outputNames` travel with the job so its outputs
// can be forwarded even if the epoch is dropped while it runs.
struct StageRun {
  uint64_t requestId = 0;
  uint64_t epoch = 0;
  uint32_t stage = 0;
  std::string origin;
  std::shared_ptr<Session> session;
  std::vector<Tensor> inputs;  // in the session's input order
  std::vector<RouteSpec> next;
  std::vector<std::string> outputNames;
  std::chrono::steady_clock::time_point queuedAt;
  double minSeconds = 0.0;  // pace_compute: the run lasts at least this long
};

struct StageRunDone {
  StageRun job;  // inputs released
  Result<std::vector<Tensor>> outputs = Error{"not run"};
  double seconds = 0.0;  // compute time, queueing excluded
};

// Import a new epoch's stage graphs and build their sessions.
struct LoadStages {
  uint64_t epoch = 0;
  std::vector<std::pair<uint32_t, std::shared_ptr<const std::string>>> graphs;  // stage -> ONNX bytes
  int threads = 1;
};

struct LoadedSession {
  std::shared_ptr<Session> session;
  size_t nodes = 0;
};

struct LoadStagesDone {
  uint64_t epoch = 0;
  Result<std::map<uint32_t, LoadedSession>> sessions = Error{"not run"};
  double seconds = 0.0;
};

using WorkerJob = std::variant<StageRun, LoadStages>;
using WorkerResult = std::variant<StageRunDone, LoadStagesDone>;

class ComputeWorker {
 public:
  // Starts the thread.
  static Result<std::unique_ptr<ComputeWorker>> start();
  // Stops after the job in progress (queued jobs are dropped) and joins.
  ~ComputeWorker();
  ComputeWorker(const ComputeWorker&) = delete;
  ComputeWorker& operator=(const ComputeWorker&) = delete;

  void post(WorkerJob job);
  // Readable when finished jobs are waiting; poll it with the sockets (a zmq::pollitem_t fd).
  int wakeFd() const { return wakeFd_; }
  // Drains the wake-ups and returns every finished job, oldest first.
  std::vector<WorkerResult> takeResults();

  // Jobs waiting to start, and whether one is running (for telemetry and heartbeats).
  size_t queued() const;
  bool busy() const;

 private:
  explicit ComputeWorker(int wakeFd) : wakeFd_(wakeFd) {}
  void loop();

  int wakeFd_;  // eventfd, owned
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<WorkerJob> jobs_;
  std::deque<WorkerResult> results_;
  bool stopping_ = false;
  bool running_ = false;
  std::thread thread_;
};

// Runs one job on the calling thread (the worker's body; tests call it directly too).
WorkerResult runJob(WorkerJob& job);

}  // namespace cleave::agent

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
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "proto/plan_codec.h"
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
  std::vector<proto::RouteSpec> next;
  std::vector<std::string> outputNames;
  std::chrono::steady_clock::time_point queuedAt;
  double predictedSeconds = 0.0;  // the plan's figure, for the stall watchdog
  double minSeconds = 0.0;        // pace_compute: the run lasts at least this long
  std::vector<std::string> zeroedInputs;  // inputs the plan feeds as zeros; a result names them
  std::string exitOutput;                 // early_exit: the stage's exit head; empty: none
  float exitThreshold = 0.0f;
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

// What the compute thread is doing, for the stall watchdog.
struct WorkerActivity {
  bool hasWork = false;  // a job runs or waits
  // Since when it has had work without finishing a job: the start of the running job, the end of
  // the last one, or the moment work arrived at an idle thread.
  std::chrono::steady_clock::time_point since{};
  std::string job;                // "stage 1 of request 42 (epoch 3) running" (or "waiting to start")
  double predictedSeconds = 0.0;  // the running stage's predicted time; 0 otherwise
};

// "stage 1 of request 42 (epoch 3)" or "loading the stages of epoch 3".
std::string describeJob(const WorkerJob& job);

// When `activity` counts as stalled at `now`: it has had work and finished nothing for
// `stallSeconds`, or for ten times the running stage's predicted time if that is longer (a stage
// predicted to be slow is not stalled while it runs as predicted).
bool isStalled(const WorkerActivity& activity, std::chrono::steady_clock::time_point now, double stallSeconds);

class ComputeWorker {
 public:
  static constexpr const char* COMPUTE_THREAD_NAME = "cleave-compute";  // at most 15 characters

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
  WorkerActivity activity() const;

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
  std::chrono::steady_clock::time_point progressAt_{};  // see WorkerActivity::since
  std::string runningJob_;
  double runningPredicted_ = 0.0;
  std::thread thread_;
};

// Runs one job on the calling thread (the worker's body; tests call it directly too). A paced
// stage run waits out its minimum time with `sleepUntil` (default: std::this_thread::sleep_until;
// the worker's own wait ends early when it stops).
using SleepUntil = std::function<void(std::chrono::steady_clock::time_point)>;
WorkerResult runJob(WorkerJob& job, const SleepUntil& sleepUntil = {});

}  // namespace cleave::agent

#include "agent/compute_worker.h"

#include <fmt/format.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "agent/graph_cache.h"

namespace cleave::agent {
namespace {

using Seconds = std::chrono::duration<double>;

StageRunDone runStage(StageRun& job, const SleepUntil& sleepUntil) {
  StageRunDone done;
  const auto start = std::chrono::steady_clock::now();
  done.outputs = job.session->run(job.inputs);
  // Pacing stands in for a slower device: the run takes as long as that device would.
  if (job.minSeconds > 0) {
    const auto end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(Seconds(job.minSeconds));
    if (sleepUntil)
      sleepUntil(end);
    else
      std::this_thread::sleep_until(end);
  }
  done.seconds = Seconds(std::chrono::steady_clock::now() - start).count();
  job.inputs.clear();
  job.session.reset();
  done.job = std::move(job);
  return done;
}

LoadStagesDone loadStages(LoadStages& job) {
  LoadStagesDone done;
  done.epoch = job.epoch;
  const auto start = std::chrono::steady_clock::now();
  std::map<uint32_t, LoadedSession> sessions;
  for (const auto& [stage, bytes] : job.graphs) {
    const std::string label = fmt::format("stage {}", stage);
    Result<Graph> graph = importGraphBytes(*bytes, label);
    if (!graph) {
      done.sessions = graph.error();
      return done;
    }
    Result<std::unique_ptr<Session>> session = Session::create(*graph, SessionOptions{job.threads, false});
    if (!session) {
      done.sessions = Error{fmt::format("{}: {}", label, session.error().message)};
      return done;
    }
    sessions[stage] = LoadedSession{std::shared_ptr<Session>(std::move(*session)), graph->nodes.size()};
  }
  done.sessions = std::move(sessions);
  done.seconds = Seconds(std::chrono::steady_clock::now() - start).count();
  return done;
}

}  // namespace

WorkerResult runJob(WorkerJob& job, const SleepUntil& sleepUntil) {
  if (auto* run = std::get_if<StageRun>(&job)) return runStage(*run, sleepUntil);
  return loadStages(std::get<LoadStages>(job));
}

std::string describeJob(const WorkerJob& job) {
  if (const auto* run = std::get_if<StageRun>(&job))
    return fmt::format("stage {} of request {} (epoch {})", run->stage, run->requestId, run->epoch);
  return fmt::format("loading the stages of epoch {}", std::get<LoadStages>(job).epoch);
}

bool isStalled(const WorkerActivity& activity, std::chrono::steady_clock::time_point now, double stallSeconds) {
  if (!activity.hasWork) return false;
  constexpr double PREDICTION_FACTOR = 10.0;
  const double limit = std::max(stallSeconds, PREDICTION_FACTOR * activity.predictedSeconds);
  return Seconds(now - activity.since).count() > limit;
}

Result<std::unique_ptr<ComputeWorker>> ComputeWorker::start() {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return Error{fmt::format("cannot create the compute thread's wake-up eventfd: {}", std::strerror(errno))};
  std::unique_ptr<ComputeWorker> worker(new ComputeWorker(fd));
  worker->thread_ = std::thread([w = worker.get()] { w->loop(); });
  return worker;
}

ComputeWorker::~ComputeWorker() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    jobs_.clear();
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  close(wakeFd_);
}

void ComputeWorker::post(WorkerJob job) {
  {
    std::lock_guard lock(mutex_);
    if (!running_ && jobs_.empty()) progressAt_ = std::chrono::steady_clock::now();
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
}

std::vector<WorkerResult> ComputeWorker::takeResults() {
  // Reset the counter first, then take the results. Every result is queued before its wake-up
  // is written, so one whose wake-up was reset here is taken below, and one queued after the
  // take writes a wake-up of its own. (The PAIR socket used before lost wake-ups two ways: a
  // "byte on its way" flag cleared before the drain let the drain eat the byte of a result queued
  // meanwhile while the flag stayed set, and without the flag, writes failed at a high-water mark
  // whose count lags the reader. Either way the agent stopped hearing from its compute thread:
  // stages queued, never ran.)
  uint64_t count = 0;
  (void)!read(wakeFd_, &count, sizeof count);  // EAGAIN: nothing to reset
  std::vector<WorkerResult> out;
  std::lock_guard lock(mutex_);
  while (!results_.empty()) {
    out.push_back(std::move(results_.front()));
    results_.pop_front();
  }
  return out;
}

size_t ComputeWorker::queued() const {
  std::lock_guard lock(mutex_);
  return jobs_.size();
}

bool ComputeWorker::busy() const {
  std::lock_guard lock(mutex_);
  return running_;
}

WorkerActivity ComputeWorker::activity() const {
  std::lock_guard lock(mutex_);
  WorkerActivity activity;
  activity.hasWork = running_ || !jobs_.empty();
  activity.since = progressAt_;
  if (running_) {
    activity.job = runningJob_ + " running";
    activity.predictedSeconds = runningPredicted_;
  } else if (!jobs_.empty()) {
    activity.job = describeJob(jobs_.front()) + " waiting to start";
  }
  return activity;
}

void ComputeWorker::loop() {
  pthread_setname_np(pthread_self(), COMPUTE_THREAD_NAME);  // for top -H, gdb and the tests
  for (;;) {
    WorkerJob job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      running_ = true;
      progressAt_ = std::chrono::steady_clock::now();
      runningJob_ = describeJob(job);
      const StageRun* run = std::get_if<StageRun>(&job);
      runningPredicted_ = run ? std::max(run->predictedSeconds, run->minSeconds) : 0.0;
    }
    WorkerResult result = runJob(job, [this](std::chrono::steady_clock::time_point until) {
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, until, [&] { return stopping_; });
    });
    {
      std::lock_guard lock(mutex_);
      running_ = false;
      progressAt_ = std::chrono::steady_clock::now();
      results_.push_back(std::move(result));
    }
    // After the result is queued (see takeResults). Adding to an eventfd cannot fail short of
    // its 2^64 - 2 limit, which a reader that resets it never lets it near.
    const uint64_t one = 1;
    (void)!write(wakeFd_, &one, sizeof one);
  }
}

}  // namespace cleave::agent

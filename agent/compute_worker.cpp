#include "agent/compute_worker.h"

#include <fmt/format.h>

#include "agent/graph_cache.h"

namespace cleave::agent {
namespace {

using Seconds = std::chrono::duration<double>;

StageRunDone runStage(StageRun& job) {
  StageRunDone done;
  const auto start = std::chrono::steady_clock::now();
  done.outputs = job.session->run(job.inputs);
  // Pacing stands in for a slower device: the run takes as long as that device would.
  if (job.minSeconds > 0)
    std::this_thread::sleep_until(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                              Seconds(job.minSeconds)));
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

WorkerResult runJob(WorkerJob& job) {
  if (auto* run = std::get_if<StageRun>(&job)) return runStage(*run);
  return loadStages(std::get<LoadStages>(job));
}

Result<std::unique_ptr<ComputeWorker>> ComputeWorker::start(zmq::context_t& context, const std::string& wakeEndpoint) {
  try {
    zmq::socket_t reader(context, zmq::socket_type::pair);
    reader.set(zmq::sockopt::linger, 0);
    reader.bind(wakeEndpoint);
    zmq::socket_t writer(context, zmq::socket_type::pair);
    writer.set(zmq::sockopt::linger, 0);
    writer.connect(wakeEndpoint);
    std::unique_ptr<ComputeWorker> worker(new ComputeWorker(std::move(reader), std::move(writer)));
    // The writer socket moves to the worker thread here; thread creation is the full memory
    // barrier ZeroMQ asks for when a socket changes threads.
    worker->thread_ = std::thread([w = worker.get()] { w->loop(); });
    return worker;
  } catch (const zmq::error_t& e) {
    return Error{fmt::format("cannot set up the compute thread's wake-up socket {}: {}", wakeEndpoint, e.what())};
  }
}

ComputeWorker::~ComputeWorker() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    jobs_.clear();
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ComputeWorker::post(WorkerJob job) {
  {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  wake_.notify_one();
}

std::vector<WorkerResult> ComputeWorker::takeResults() {
  // Clear the flag before draining: a result pushed after the swap below sends a new wake-up.
  {
    std::lock_guard lock(mutex_);
    signalled_ = false;
  }
  zmq::message_t byte;
  while (wakeReader_.recv(byte, zmq::recv_flags::dontwait)) {
  }
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

void ComputeWorker::loop() {
  for (;;) {
    WorkerJob job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      running_ = true;
    }
    WorkerResult result = runJob(job);
    bool signal = false;
    {
      std::lock_guard lock(mutex_);
      running_ = false;
      results_.push_back(std::move(result));
      signal = !signalled_;
      signalled_ = true;
    }
    if (signal) {
      // One byte per batch of results; the flag keeps the PAIR far below its high-water mark,
      // so this never blocks.
      (void)wakeWriter_.send(zmq::const_buffer("!", 1), zmq::send_flags::dontwait);
    }
  }
}

}  // namespace cleave::agent

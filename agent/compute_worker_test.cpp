// The compute thread loads stages and runs them off the caller's thread, waking the caller
// through its eventfd; results equal a direct Session::run on the same inputs, and no finished
// job is ever left without a wake-up.
#include "agent/compute_worker.h"

#include <doctest/doctest.h>

#include <fstream>
#include <random>
#include <sstream>

#include <zmq.hpp>

#include "runtime/onnx_import.h"

namespace cleave::agent {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<const std::string> modelBytes() {
  std::ifstream in(std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-small/model.onnx", std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return std::make_shared<const std::string>(bytes.str());
}

Tensor randomImage(uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  std::vector<float> values(28 * 28);
  for (float& v : values) v = pixel(rng);
  return Tensor::fromVector<float>({1, 1, 28, 28}, values);
}

// Waits (poll, bounded) for the worker's wake-up and collects results until `count` arrived.
std::vector<WorkerResult> collect(ComputeWorker& worker, size_t count) {
  std::vector<WorkerResult> results;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (results.size() < count && std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t item{nullptr, worker.wakeFd(), ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, 1000ms);
    for (WorkerResult& r : worker.takeResults()) results.push_back(std::move(r));
  }
  return results;
}

}  // namespace

TEST_CASE("stages load and run on the compute thread; outputs equal a direct run") {
  Result<std::unique_ptr<ComputeWorker>> worker = ComputeWorker::start();
  REQUIRE(worker.ok());
  (*worker)->post(LoadStages{7, {{0, modelBytes()}}, 1});
  std::vector<WorkerResult> loaded = collect(**worker, 1);
  REQUIRE(loaded.size() == 1);
  auto* load = std::get_if<LoadStagesDone>(&loaded[0]);
  REQUIRE(load != nullptr);
  CHECK(load->epoch == 7);
  REQUIRE_MESSAGE(load->sessions.ok(), load->sessions.error().message);
  std::shared_ptr<Session> session = load->sessions->at(0).session;
  CHECK(load->sessions->at(0).nodes > 0);

  Result<Graph> graph = importOnnxFile(std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-small/model.onnx");
  REQUIRE(graph.ok());
  Result<std::unique_ptr<Session>> reference = Session::create(*graph);
  REQUIRE(reference.ok());

  const size_t jobs = 5;
  for (uint32_t i = 0; i < jobs; ++i) {
    StageRun run;
    run.requestId = i;
    run.session = session;
    run.inputs = {randomImage(i)};
    (*worker)->post(std::move(run));
  }
  std::vector<WorkerResult> done = collect(**worker, jobs);
  REQUIRE(done.size() == jobs);
  for (uint32_t i = 0; i < jobs; ++i) {
    auto* run = std::get_if<StageRunDone>(&done[i]);
    REQUIRE(run != nullptr);
    CHECK(run->job.requestId == i);  // in order
    CHECK(run->job.inputs.empty());  // released
    REQUIRE(run->outputs.ok());
    Result<std::vector<Tensor>> expected = (*reference)->run({randomImage(i)});
    REQUIRE(expected.ok());
    CHECK((*run->outputs)[0].identical((*expected)[0]));
  }
  CHECK((*worker)->queued() == 0);
}

TEST_CASE("bad graphs and bad inputs come back as errors") {
  Result<std::unique_ptr<ComputeWorker>> worker = ComputeWorker::start();
  REQUIRE(worker.ok());
  (*worker)->post(LoadStages{1, {{0, std::make_shared<const std::string>("not a model")}}, 1});
  (*worker)->post(LoadStages{2, {{0, modelBytes()}}, 1});
  std::vector<WorkerResult> loaded = collect(**worker, 2);
  REQUIRE(loaded.size() == 2);
  CHECK_FALSE(std::get<LoadStagesDone>(loaded[0]).sessions.ok());
  auto& good = std::get<LoadStagesDone>(loaded[1]);
  REQUIRE(good.sessions.ok());

  StageRun run;
  run.session = good.sessions->at(0).session;
  run.inputs = {Tensor::zeros(DType::F32, {1, 1, 27, 28})};
  (*worker)->post(std::move(run));
  std::vector<WorkerResult> done = collect(**worker, 1);
  REQUIRE(done.size() == 1);
  CHECK_FALSE(std::get<StageRunDone>(done[0]).outputs.ok());
}

TEST_CASE("stopping with queued jobs returns promptly") {
  Result<std::unique_ptr<ComputeWorker>> worker = ComputeWorker::start();
  REQUIRE(worker.ok());
  for (int i = 0; i < 20; ++i) (*worker)->post(LoadStages{static_cast<uint64_t>(i), {{0, modelBytes()}}, 1});
  // Joins after at most the job in progress; the queued loads are dropped, so this returns in
  // about one load's time (the test's timeout catches a worker that runs them all or hangs).
  const auto start = std::chrono::steady_clock::now();
  worker->reset();
  MESSAGE("stopped after ", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), " s");
}
TEST_CASE("a stage that does not return shows in the activity, counts as stalled, and stopping still returns") {
  Result<std::unique_ptr<ComputeWorker>> worker = ComputeWorker::start();
  REQUIRE(worker.ok());
  CHECK_FALSE((*worker)->activity().hasWork);
  (*worker)->post(LoadStages{3, {{0, modelBytes()}}, 1});
  std::vector<WorkerResult> loaded = collect(**worker, 1);
  REQUIRE(loaded.size() == 1);
  std::shared_ptr<Session> session = std::get<LoadStagesDone>(loaded[0]).sessions->at(0).session;

  // Paced to a day: the compute thread is busy with it for as long as the test lasts.
  StageRun run;
  run.requestId = 42;
  run.epoch = 3;
  run.stage = 1;
  run.session = session;
  run.inputs = {randomImage(1)};
  run.predictedSeconds = 0.5;
  run.minSeconds = 86400;
  const auto posted = std::chrono::steady_clock::now();
  (*worker)->post(std::move(run));
  StageRun behind;
  behind.requestId = 43;
  behind.session = session;
  (*worker)->post(std::move(behind));
  WorkerActivity activity;
  for (auto deadline = posted + 10s; std::chrono::steady_clock::now() < deadline;) {
    activity = (*worker)->activity();
    if (activity.job.find("running") != std::string::npos) break;
    std::this_thread::sleep_for(1ms);  // bounded poll of another thread's state
  }
  CHECK(activity.hasWork);
  CHECK(activity.job == "stage 1 of request 42 (epoch 3) running");
  CHECK(activity.predictedSeconds == doctest::Approx(86400));  // the pace is its real duration
  CHECK(activity.since >= posted);
  CHECK((*worker)->queued() == 1);
  // Ten times its duration is the limit for a stage known to be slow.
  CHECK_FALSE(isStalled(activity, activity.since + 24h, 30));
  CHECK(isStalled(activity, activity.since + 241h, 30));

  const auto start = std::chrono::steady_clock::now();
  worker->reset();  // the pacing wait ends when the worker stops
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("isStalled: work and no progress for the stall time, or ten times the prediction if longer") {
  const auto t0 = std::chrono::steady_clock::time_point{} + 1h;
  WorkerActivity idle;
  idle.since = t0;
  CHECK_FALSE(isStalled(idle, t0 + 1h, 2));  // no work is never a stall
  WorkerActivity waiting{true, t0, "stage 0 of request 1 (epoch 1) waiting to start", 0};
  CHECK_FALSE(isStalled(waiting, t0 + 1900ms, 2));
  CHECK(isStalled(waiting, t0 + 2100ms, 2));
  WorkerActivity slow{true, t0, "stage 0 of request 1 (epoch 1) running", 1.0};
  CHECK_FALSE(isStalled(slow, t0 + 9s, 2));
  CHECK(isStalled(slow, t0 + 10100ms, 2));
}

TEST_CASE("no finished job is left without a wake-up, however the two threads interleave") {
  // The I/O thread's side of the hand-off, as the agent's loop does it: poll the wake socket,
  // then take the results. A result whose wake-up was lost would sit in the worker forever (the
  // fleet wedged that way: "stage queued", never "ran"). Jobs go in bursts of 1 to 64 so the
  // worker finishes some while the I/O thread is inside takeResults(), which is where the
  // wake-up used to be lost (its byte drained while the flag saying "a byte is on its way" stayed
  // set, so no later result sent one). A load of no graphs is a job that finishes at once.
  Result<std::unique_ptr<ComputeWorker>> started = ComputeWorker::start();
  REQUIRE(started.ok());
  ComputeWorker& worker = **started;
  constexpr uint64_t JOBS = 1000000;
  uint64_t posted = 0, finished = 0;
  while (finished < JOBS) {
    for (uint64_t burst = 1 + posted % 64; burst > 0 && posted < JOBS; --burst) {
      LoadStages job;
      job.epoch = ++posted;
      worker.post(std::move(job));
    }
    while (finished < posted) {
      zmq::pollitem_t item{nullptr, worker.wakeFd(), ZMQ_POLLIN, 0};
      // Each job finishes within microseconds; a poll that sees nothing for seconds means the
      // wake-up was lost (checked below), not a slow machine.
      zmq::poll(&item, 1, std::chrono::milliseconds(5000));
      if (!(item.revents & ZMQ_POLLIN)) break;
      for (WorkerResult& result : worker.takeResults()) {
        REQUIRE(std::get<LoadStagesDone>(result).epoch == finished + 1);
        ++finished;
      }
    }
    REQUIRE_MESSAGE(finished == posted, "lost wake-up: " << posted - finished << " finished job(s) after job "
                                                         << finished << " never signalled");
  }
}

}  // namespace cleave::agent

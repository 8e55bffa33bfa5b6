// early_exit end to end: cleaved and two cleave-agents as real processes on 127.0.0.1 with CURVE
// (configs/meanet-edge-cloud.toml: a camera board and a cloud VM over LTE), fmnist-meanet's
// cascade. The whole Fashion-MNIST test set goes through the fleet; every result must equal the
// single-process cascade at the plan's thresholds (same exit, bit-identical scores); the share
// finishing at each exit must be within 2 points of the bundle's held-out figure; accuracy must
// be at most the topology's accuracy_drop below the teacher's on the test set. The planner's own plan runs first, then an operator's plan that sends
// the hard fifth to the teacher in the cloud; a bandwidth step (an operator's pin to 1 Mbit/s)
// must then move the plan's thresholds or placement, and the floor must hold throughout. Results
// go back to the edge (the origin) from wherever a request finished.
#include <map>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "config/fleet_config.h"
#include "runtime/npy.h"
#include "runtime/session.h"
#include "tests/fleet/fleet_harness.h"

namespace cleave::testing {
namespace {

const std::string TOPOLOGY = std::string(CLEAVE_SOURCE_DIR) + "/configs/meanet-edge-cloud.toml";
constexpr size_t WINDOW = 256;  // requests in flight at once

// The cascade in one process: every block's exit scores for every image, so the result at any
// thresholds is known: the first block whose confidence reaches its threshold, else the last.
struct Cascade {
  std::vector<Tensor> images;
  std::vector<int64_t> labels;
  std::vector<std::vector<Tensor>> scores;      // [image][block]
  std::vector<std::vector<float>> confidence;  // [image][block]

  // The exit rule written out here on its own: float32 logits, the largest softmax
  // probability with the sum taken in class order, at or above the float32 threshold.
  static float maxSoftmax(const Tensor& logits) {
    std::span<const float> v = logits.values<float>();
    float top = v[0];
    for (float x : v) top = std::max(top, x);
    float sum = 0.0f;
    for (float x : v) sum += std::exp(x - top);
    return 1.0f / sum;
  }
  size_t exitOf(size_t image, const std::vector<double>& thresholds) const {
    for (size_t k = 0; k < thresholds.size(); ++k)
      if (confidence[image][k] >= static_cast<float>(thresholds[k])) return k;
    return thresholds.size();
  }
};

Cascade cascade(const config::ModelBundle& bundle) {
  Cascade c;
  Result<Tensor> images = readNpy(std::string(CLEAVE_BINARY_DIR) + "/data/fmnist-t10k-images.npy");
  Result<Tensor> labels = readNpy(std::string(CLEAVE_BINARY_DIR) + "/data/fmnist-t10k-labels.npy");
  REQUIRE_MESSAGE((images.ok() && labels.ok()), "the fmnist_testset_export fixture writes the test set");
  std::vector<std::unique_ptr<Session>> blocks;
  for (const config::EarlyExitBlockGraph& block : bundle.earlyExit->blocks) {
    Result<std::unique_ptr<Session>> session = Session::create(block.graph);
    REQUIRE(session.ok());
    blocks.push_back(std::move(*session));
  }
  const size_t count = static_cast<size_t>(images->shape()[0]);
  for (size_t i = 0; i < count; ++i) {
    std::vector<float> pixels(images->values<float>().begin() + static_cast<ptrdiff_t>(i * 784),
                              images->values<float>().begin() + static_cast<ptrdiff_t>((i + 1) * 784));
    c.images.push_back(Tensor::fromVector<float>({1, 1, 28, 28}, pixels));
    c.labels.push_back(labels->dtype() == DType::I64 ? labels->values<int64_t>()[i]
                                                      : static_cast<int64_t>(labels->values<uint8_t>()[i]));
    std::map<std::string, Tensor> values{{bundle.earlyExit->blocks.front().graph.inputs.front().name, c.images.back()}};
    std::vector<Tensor> scores;
    std::vector<float> confidence;
    for (size_t k = 0; k < blocks.size(); ++k) {
      std::vector<Tensor> inputs;
      for (const ValueInfo& in : blocks[k]->inputs()) inputs.push_back(values.at(in.name));
      Result<std::vector<Tensor>> out = blocks[k]->run(inputs);
      REQUIRE(out.ok());
      const std::vector<ValueInfo> outputs = blocks[k]->outputs();
      for (size_t o = 0; o < outputs.size(); ++o) values.insert_or_assign(outputs[o].name, (*out)[o]);
      scores.push_back(values.at(bundle.earlyExit->blocks[k].exit));
      confidence.push_back(Cascade::maxSoftmax(scores.back()));
    }
    c.scores.push_back(std::move(scores));
    c.confidence.push_back(std::move(confidence));
  }
  return c;
}

int64_t argmax(const Tensor& t) {
  std::span<const float> v = t.values<float>();
  return std::max_element(v.begin(), v.end()) - v.begin();
}

// A plan event of strategy early_exit: its epoch, thresholds, held-out fractions, accuracy, and
// which agent runs each block; stage index -> block.
struct EarlyExitPlan {
  uint64_t epoch = 0;
  std::vector<double> thresholds, fractions;
  double accuracy = 0;
  std::vector<std::string> agentOf;  // per block
  std::map<uint32_t, size_t> blockOf;
};

EarlyExitPlan planOf(wire::PlanSummary::Reader plan) {
  EarlyExitPlan p;
  p.epoch = plan.getEpoch();
  for (double t : plan.getExitThresholds()) p.thresholds.push_back(t);
  for (double f : plan.getExitFractions()) p.fractions.push_back(f);
  p.accuracy = plan.getExpectedAccuracy();
  p.agentOf.resize(p.fractions.size());
  for (auto s : plan.getStages()) {
    const std::string label = s.getLabel();
    if (label.rfind("block ", 0) != 0) continue;
    const size_t k = std::stoul(label.substr(6));
    REQUIRE(k < p.agentOf.size());
    p.agentOf[k] = s.getAgent();
    p.blockOf[s.getStage()] = k;
  }
  return p;
}

// The daemon's early_exit plan once its epoch is above `afterEpoch` (asked with `plan show`: a
// watch would also carry every request's result, tens of thousands here).
EarlyExitPlan waitForPlan(OperatorClient& op, uint64_t afterEpoch, FleetHarness& fleet) {
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    Result<OperatorReply> reply = op.call([](wire::OperatorRequest::Builder r) { r.setPlanShow(); });
    REQUIRE(reply.ok());
    Result<DecodedReply> d = decodeReply(*reply);
    REQUIRE(d.ok());
    if (!d->reply.isPlan()) continue;  // no plan yet: the agents are still registering
    auto plan = d->reply.getPlan();
    if (plan.getStrategy() == wire::Strategy::EARLY_EXIT && plan.getEpoch() > afterEpoch) return planOf(plan);
  }
  FAIL("no early_exit plan after epoch " << afterEpoch << " within 30 s\ndaemon log:\n" << fleet.logTail("daemon"));
  return {};
}

struct RunFigures {
  std::vector<size_t> exits;  // per block
  size_t correct = 0;
};

// Every test image through the fleet under `plan`; each result checked against the cascade.
RunFigures runTestSet(OperatorClient& op, const Cascade& ref, const EarlyExitPlan& plan, FleetHarness& fleet) {
  RunFigures figures;
  figures.exits.assign(plan.fractions.size(), 0);
  std::map<uint64_t, size_t> inFlight;  // operator request id -> image
  size_t next = 0, done = 0;
  const size_t total = ref.images.size();
  auto deadline = std::chrono::steady_clock::now() + 300s;
  while (done < total) {
    while (next < total && inFlight.size() < WINDOW) inFlight[op.infer(ref.images[next])] = next, ++next;
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                    "only " << done << " of " << total << " results\ndaemon log:\n" << fleet.logTail("daemon"));
    std::optional<OperatorReply> reply = op.receive(1s);
    if (!reply) continue;
    Result<DecodedReply> d = decodeReply(*reply);
    REQUIRE(d.ok());
    const uint64_t id = d->reply.getId();
    REQUIRE_MESSAGE(d->reply.isInferResult(),
                    "request " << id << ": " << std::string(d->reply.isError() ? d->reply.getError().cStr() : "?")
                               << "\ndaemon log:\n" << fleet.logTail("daemon") << "\nedge log:\n"
                               << fleet.logTail("edge", 40));
    auto image = inFlight.find(id);
    REQUIRE_MESSAGE(image != inFlight.end(), "a result for request " << id << ", which is not in flight");
    const size_t i = image->second;
    inFlight.erase(image);
    ++done;
    auto result = d->reply.getInferResult();
    REQUIRE_MESSAGE(result.getEpoch() == plan.epoch, "request " << id << " ran under epoch " << result.getEpoch());
    auto block = plan.blockOf.find(result.getExitStage());
    REQUIRE_MESSAGE(block != plan.blockOf.end(), "request " << id << " finished at stage " << result.getExitStage());
    const size_t expected = ref.exitOf(i, plan.thresholds);
    CHECK_MESSAGE(block->second == expected, "image " << i << " finished at block " << block->second << ", the "
                                                      << "single-process cascade at block " << expected);
    const Tensor output = inferOutput(*reply, d->reply);
    CHECK_MESSAGE(output.identical(ref.scores[i][block->second]),
                  "image " << i << ": block " << block->second << "'s scores differ from the single-process run");
    ++figures.exits[block->second];
    if (argmax(output) == ref.labels[i]) ++figures.correct;
  }
  return figures;
}

// The measured shares against the plan's held-out figures, and the accuracy against the floor.
void checkFigures(const RunFigures& figures, const EarlyExitPlan& plan, double floor, size_t total) {
  std::string shares;
  for (size_t k = 0; k < plan.fractions.size(); ++k) {
    const double measured = static_cast<double>(figures.exits[k]) / static_cast<double>(total);
    shares += fmt::format("block {} {:.2f}% (held-out {:.2f}%) ", k, 100 * measured, 100 * plan.fractions[k]);
    CHECK_MESSAGE(std::abs(measured - plan.fractions[k]) <= 0.02,
                  "block " << k << ": " << measured << " of requests finished there, held-out " << plan.fractions[k]);
  }
  const double accuracy = static_cast<double>(figures.correct) / static_cast<double>(total);
  MESSAGE("thresholds " << fmt::format("{}", fmt::join(plan.thresholds, ", ")) << "; blocks on "
                        << fmt::format("{}", fmt::join(plan.agentOf, ", ")) << "; " << shares << "; accuracy "
                        << accuracy << " (floor " << floor << ")");
  CHECK(accuracy >= floor);
}

}  // namespace

TEST_CASE("early_exit over a camera board and a cloud: the test set, exits as in one process, a bandwidth step") {
  Result<config::FleetConfig> config = config::loadFleetConfig(TOPOLOGY);
  REQUIRE_MESSAGE(config.ok(), config.error().message);
  REQUIRE(config->bundle.earlyExit);
  REQUIRE(config->problem.constraints.accuracyDrop);
  const Cascade ref = cascade(config->bundle);
  // The topology allows at most accuracy_drop below the teacher (the last block), here on the
  // test set: the teacher's own accuracy there, computed in this process.
  size_t teacherCorrect = 0;
  for (size_t i = 0; i < ref.images.size(); ++i) teacherCorrect += argmax(ref.scores[i].back()) == ref.labels[i];
  const double floor = static_cast<double>(teacherCorrect) / static_cast<double>(ref.images.size()) -
                       *config->problem.constraints.accuracyDrop;
  REQUIRE(floor > 0.9);

  zmq::context_t context;
  Result<std::unique_ptr<FleetHarness>> started = FleetHarness::start(TOPOLOGY);
  REQUIRE_MESSAGE(started.ok(), started.error().message);
  FleetHarness& fleet = **started;
  std::unique_ptr<OperatorClient> op = connectOperator(context, fleet);
  for (const char* name : {"edge", "cloud"}) REQUIRE(fleet.startAgent(name).ok());
  EarlyExitPlan first = waitForPlan(*op, 0, fleet);

  // Over LTE the teacher is quicker on the board (9.4 ms) than a round trip to the cloud (50 ms),
  // and the radio's energy costs more than the board's: the planner keeps every block on the edge.
  CHECK(first.agentOf == std::vector<std::string>{"edge", "edge", "edge"});
  waitForEpoch(*op, first.epoch);
  checkFigures(runTestSet(*op, ref, first, fleet), first, floor, ref.images.size());

  // An operator's plan sends the hard fifth of the images to the teacher in the cloud.
  Result<OperatorReply> applied = op->call([](wire::OperatorRequest::Builder r) {
    r.initPlanApply().setToml("strategy = \"early_exit\"\nblocks = [\"edge\", \"edge\", \"cloud\"]\nthresholds = [0.9, 0.9]\n");
  });
  REQUIRE(applied.ok());
  Result<DecodedReply> appliedReply = decodeReply(*applied);
  REQUIRE(appliedReply.ok());
  REQUIRE_MESSAGE(appliedReply->reply.isPlan(), (appliedReply->reply.isError() ? appliedReply->reply.getError().cStr() : "?"));
  EarlyExitPlan cloud = planOf(appliedReply->reply.getPlan());
  CHECK(cloud.agentOf[2] == "cloud");
  CHECK(cloud.fractions[2] > 0.2);
  waitForEpoch(*op, cloud.epoch);
  checkFigures(runTestSet(*op, ref, cloud, fleet), cloud, floor, ref.images.size());

  // The uplink drops to 1 Mbit/s: sending a fifth of the images costs 25 ms each, so the daemon
  // re-plans at once (an operator's pin skips the hold): fewer requests leave the board.
  Result<OperatorReply> pinned = op->call([&](wire::OperatorRequest::Builder r) {
    auto set = r.initLinkSet();
    set.setFrom("edge");
    set.setTo("cloud");
    set.initPin().setBytesPerSecond(1e6 / 8);
    set.getPin().setRttSeconds(-1);
  });
  REQUIRE(pinned.ok());
  EarlyExitPlan slow = waitForPlan(*op, cloud.epoch, fleet);
  CHECK(slow.thresholds != cloud.thresholds);
  CHECK(slow.agentOf != cloud.agentOf);
  CHECK(slow.fractions[2] < cloud.fractions[2]);
  waitForEpoch(*op, slow.epoch);
  checkFigures(runTestSet(*op, ref, slow, fleet), slow, floor, ref.images.size());
}

}  // namespace cleave::testing

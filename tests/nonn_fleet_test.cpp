// NoNN end to end: cleaved and five cleave-agents as real processes on 127.0.0.1 with CURVE
// (tests/fleet/nonn-4pi.toml): fmnist-nonn-4's four students on four Pis, the fusion on a fifth
// device. 500 Fashion-MNIST test images go through the fleet; every result must be bit-identical
// to the single-process run of the same bundle (each student, then the fusion over their
// features, with zeros for any student the result says it lacked). A student's agent is
// SIGKILLed mid-stream: no device can take its student (memory binds), so the daemon re-plans at
// once without it; every request is still answered exactly once, and those answered by the
// degraded plan say which features they lacked.
#include <signal.h>

#include <map>
#include <set>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "config/bundle.h"
#include "runtime/npy.h"
#include "runtime/session.h"
#include "tests/fleet/fleet_harness.h"

namespace cleave::testing {
namespace {

const std::string TOPOLOGY = std::string(CLEAVE_SOURCE_DIR) + "/tests/fleet/nonn-4pi.toml";
const std::string BUNDLE = std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-nonn-4";
constexpr size_t IMAGES = 500;

// The single-process NoNN: each student's features per image, and the fusion over any subset.
struct NonnReference {
  std::vector<Tensor> images;
  std::vector<std::vector<Tensor>> features;  // [image][student]
  std::vector<std::string> featureNames;      // per student
  std::unique_ptr<Session> fusion;
  std::vector<ValueInfo> fusionInputs;

  // The fusion's output for image i with the named features zeroed.
  Tensor expected(size_t i, const std::vector<std::string>& zeroed) {
    std::vector<Tensor> inputs;
    for (const ValueInfo& input : fusionInputs) {
      auto k = std::find(featureNames.begin(), featureNames.end(), input.name) - featureNames.begin();
      const bool missing = std::find(zeroed.begin(), zeroed.end(), input.name) != zeroed.end();
      inputs.push_back(missing ? Tensor::zeros(input.type) : features[i][static_cast<size_t>(k)]);
    }
    Result<std::vector<Tensor>> out = fusion->run(inputs);
    REQUIRE(out.ok());
    return (*out)[0];
  }
};

NonnReference nonnReference(size_t count) {
  NonnReference r;
  Result<Tensor> images = readNpy(std::string(CLEAVE_BINARY_DIR) + "/data/fmnist-t10k-images.npy");
  REQUIRE_MESSAGE(images.ok(), "the fmnist_testset_export fixture writes the test images");
  Result<config::ModelBundle> bundle = config::loadBundle(BUNDLE, true);  // as the daemon loads it
  REQUIRE_MESSAGE(bundle.ok(), bundle.error().message);
  std::vector<std::unique_ptr<Session>> students;
  for (const config::NonnStudentGraph& student : bundle->nonn->students) {
    Result<std::unique_ptr<Session>> session = Session::create(student.graph);
    REQUIRE(session.ok());
    students.push_back(std::move(*session));
    r.featureNames.push_back(student.output);
  }
  Result<std::unique_ptr<Session>> fusion = Session::create(bundle->nonn->fusion.graph);
  REQUIRE(fusion.ok());
  r.fusion = std::move(*fusion);
  r.fusionInputs = r.fusion->inputs();
  for (size_t i = 0; i < count; ++i) {
    std::vector<float> pixels(images->values<float>().begin() + static_cast<ptrdiff_t>(i * 784),
                              images->values<float>().begin() + static_cast<ptrdiff_t>((i + 1) * 784));
    r.images.push_back(Tensor::fromVector<float>({1, 1, 28, 28}, pixels));
    std::vector<Tensor> features;
    for (auto& student : students) {
      Result<std::vector<Tensor>> out = student->run({r.images.back()});
      REQUIRE(out.ok());
      features.push_back((*out)[0]);
    }
    r.features.push_back(std::move(features));
  }
  return r;
}

// Waits for a plan event of strategy nonn; returns its students' agents and what it leaves out.
struct NonnPlanEvent {
  std::map<std::string, std::string> agentOf;  // "student k" / "fusion" -> agent
  std::vector<std::string> missing;
};
NonnPlanEvent waitForNonnPlan(OperatorClient& watcher, size_t students, FleetHarness& fleet) {
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    std::optional<OperatorReply> reply = watcher.receive(1s);
    if (!reply) continue;
    Result<DecodedReply> d = decodeReply(*reply);
    REQUIRE(d.ok());
    if (!d->reply.isEvent() || !d->reply.getEvent().isPlan()) continue;
    auto plan = d->reply.getEvent().getPlan();
    if (plan.getStrategy() != wire::Strategy::NONN) continue;
    NonnPlanEvent event;
    size_t placed = 0;
    for (auto s : plan.getStages()) {
      const std::string label = s.getLabel();
      if (label.rfind("student", 0) == 0) ++placed;
      if (label != "relay") event.agentOf[label] = s.getAgent();
    }
    for (auto m : plan.getMissing()) event.missing.push_back(m);
    if (placed == students) return event;
  }
  FAIL("no nonn plan with " << students << " students within 30 s\ndaemon log:\n" << fleet.logTail("daemon"));
  return {};
}

}  // namespace

TEST_CASE("nonn over four Pis and a fusion device: bit-identical results, a student's agent killed mid-stream") {
  NonnReference ref = nonnReference(IMAGES);
  zmq::context_t context;
  Result<std::unique_ptr<FleetHarness>> started = FleetHarness::start(TOPOLOGY);
  REQUIRE_MESSAGE(started.ok(), started.error().message);
  FleetHarness& fleet = **started;
  std::unique_ptr<OperatorClient> watcher = connectOperator(context, fleet);
  watcher->send([](wire::OperatorRequest::Builder r) { r.initWatch().setPlans(true); });
  for (const char* name : {"pi1", "pi2", "pi3", "pi4", "fuse"}) REQUIRE(fleet.startAgent(name).ok());
  NonnPlanEvent full = waitForNonnPlan(*watcher, 4, fleet);
  CHECK(full.missing.empty());
  CHECK(full.agentOf["fusion"] == "fuse");
  std::set<std::string> studentAgents;
  for (int k = 0; k < 4; ++k) studentAgents.insert(full.agentOf[fmt::format("student {}", k)]);
  CHECK(studentAgents == std::set<std::string>{"pi1", "pi2", "pi3", "pi4"});
  const std::string victim = "pi3";
  std::string lostStudent;
  for (const auto& [label, agent] : full.agentOf)
    if (agent == victim) lostStudent = label;
  REQUIRE(!lostStudent.empty());

  std::unique_ptr<OperatorClient> op = connectOperator(context, fleet);
  std::map<uint64_t, size_t> sent;  // operator request id -> image
  std::map<uint64_t, int> received;
  size_t degraded = 0, got = 0;
  std::set<std::string> zeroedSeen;
  auto collect = [&](size_t total) {
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (got < total) {
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                      "only " << got << " of " << total << " results\ndaemon log:\n" << fleet.logTail("daemon"));
      std::optional<OperatorReply> reply = op->receive(1s);
      if (!reply) continue;
      Result<DecodedReply> d = decodeReply(*reply);
      REQUIRE(d.ok());
      const uint64_t id = d->reply.getId();
      REQUIRE_MESSAGE(d->reply.isInferResult(),
                      "request " << id << ": " << std::string(d->reply.isError() ? d->reply.getError().cStr() : "?")
                                 << "\ndaemon log:\n" << fleet.logTail("daemon") << "\npi1 log:\n"
                                 << fleet.logTail("pi1", 60) << "\nfuse log:\n" << fleet.logTail("fuse", 60));
      REQUIRE(sent.count(id));
      ++received[id];
      ++got;
      std::vector<std::string> zeroed;
      for (auto name : d->reply.getInferResult().getZeroedInputs()) zeroed.push_back(name);
      if (!zeroed.empty()) ++degraded;
      zeroedSeen.insert(zeroed.begin(), zeroed.end());
      CHECK_MESSAGE(zeroed.size() <= 1, "request " << id << " lacked " << zeroed.size() << " students' features");
      CHECK_MESSAGE(inferOutput(*reply, d->reply).identical(ref.expected(sent[id], zeroed)),
                    "request " << id << " (image " << sent[id] << ") differs from the single-process NoNN");
    }
  };

  // Half the images; the victim dies once a quarter of all results are in, the rest follow.
  for (size_t i = 0; i < IMAGES / 2; ++i) sent[op->infer(ref.images[i])] = i;
  collect(IMAGES / 4);
  fleet.killAgent(victim, SIGKILL);
  for (size_t i = IMAGES / 2; i < IMAGES; ++i) sent[op->infer(ref.images[i])] = i;
  collect(IMAGES);

  NonnPlanEvent without = waitForNonnPlan(*watcher, 3, fleet);
  REQUIRE(without.missing.size() == 1);
  for (const auto& [label, agent] : without.agentOf) CHECK_MESSAGE(agent != victim, label << " still on " << victim);

  for (auto& [id, n] : received) CHECK_MESSAGE(n == 1, "request " << id << " got " << n << " results");
  CHECK(received.size() == IMAGES);
  // The degraded plan answered the later requests, and said what each lacked: the student the
  // daemon left out (the one whose absence costs least, by the manifest), never another.
  CHECK(degraded > 0);
  const std::string missingFeatures = "features_" + without.missing.front().substr(std::string("student ").size());
  CHECK(zeroedSeen == std::set<std::string>{missingFeatures});
  MESSAGE(degraded << " of " << IMAGES << " results degraded (without " << missingFeatures << "); " << victim
                   << " ran " << lostStudent);

  // An operator's own nonn plan: students moved around, student 3 left out. A placement on the
  // dead Pi is refused, naming it; the valid one is installed and answers as it says.
  auto apply = [&](const std::string& toml) {
    Result<OperatorReply> reply = op->call([&](wire::OperatorRequest::Builder r) { r.initPlanApply().setToml(toml); });
    REQUIRE(reply.ok());
    Result<DecodedReply> d = decodeReply(*reply);
    REQUIRE(d.ok());
    return std::make_pair(std::move(*reply), std::move(*d));
  };
  {
    auto [reply, d] = apply("strategy = \"nonn\"\nstudents = [\"pi3\", \"pi1\", \"pi2\", \"pi4\"]\nfusion = \"fuse\"\n");
    REQUIRE(d.reply.isError());
    CHECK(std::string(d.reply.getError().cStr()).find("'pi3' is not an online device") != std::string::npos);
  }
  {
    auto [reply, d] = apply("strategy = \"nonn\"\nstudents = [\"pi2\", \"pi4\", \"pi1\", \"\"]\nfusion = \"fuse\"\n");
    REQUIRE_MESSAGE(d.reply.isPlan(), (d.reply.isError() ? d.reply.getError().cStr() : "?"));
    CHECK(d.reply.getPlan().getInstalled());
    std::vector<std::string> missing;
    for (auto m : d.reply.getPlan().getMissing()) missing.push_back(m);
    CHECK(missing == std::vector<std::string>{"student 3"});
    // Requests that reach the origin before it accepted the plan run under the one before.
    waitForEpoch(*op, d.reply.getPlan().getEpoch());
  }
  const size_t before = got;
  for (size_t i = 0; i < 20; ++i) sent[op->infer(ref.images[i])] = i;
  zeroedSeen.clear();
  collect(before + 20);
  CHECK(zeroedSeen == std::set<std::string>{"features_3"});

  // Exactly one result each: nothing more arrives before the reply to a later request (a
  // duplicate would have ended a collect early and show up here).
  const uint64_t statusId = op->send([](wire::OperatorRequest::Builder r) { r.setStatus(); });
  std::optional<OperatorReply> next = op->receive(10s);
  REQUIRE(next);
  Result<DecodedReply> d = decodeReply(*next);
  REQUIRE(d.ok());
  CHECK_MESSAGE(d->reply.getId() == statusId, "an extra reply for request " << d->reply.getId());
  for (auto& [id, n] : received) CHECK_MESSAGE(n == 1, "request " << id << " got " << n << " results");
}

}  // namespace cleave::testing

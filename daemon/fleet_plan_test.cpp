// Plans made concrete: stage graphs shipped as ONNX bytes compose to the whole model (split)
// and to the single-process NoNN (nonn, also with a student left out); peers and stages per
// agent; planning around an offline agent; auto choosing between the teacher and its students.
#include "daemon/fleet_plan.h"

#include <doctest/doctest.h>
#include <onnx/onnx_pb.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "config/fleet_config.h"
#include "daemon/fleet_planning.h"
#include "runtime/npy.h"
#include "runtime/onnx_import.h"
#include "runtime/session.h"

namespace cleave::daemon {
namespace {

const std::string TOPOLOGY = std::string(CLEAVE_SOURCE_DIR) + "/tests/fleet/three-agents.toml";

std::set<std::string> everyone() { return {"a", "b", "c"}; }

}  // namespace

TEST_CASE("stage graphs travel as ONNX bytes and compose to the whole model") {
  Result<config::FleetConfig> config = config::loadFleetConfig(TOPOLOGY);
  REQUIRE_MESSAGE(config.ok(), config.error().message);
  Result<OnlinePlan> planned = planOnline(config->problem, everyone());
  REQUIRE(planned.ok());
  Result<FleetPlan> plan = buildFleetPlan(config->bundle.graph, planned->plan, planned->names);
  REQUIRE_MESSAGE(plan.ok(), plan.error().message);
  REQUIRE(plan->stages.size() == 3);
  CHECK(plan->stages[0].agent == "a");
  CHECK(plan->stages[1].agent == "b");
  CHECK(plan->stages[2].agent == "c");
  for (const FleetStage& s : plan->stages) CHECK(s.begin < s.end);  // all three compute
  CHECK(plan->peersOf("a") == std::vector<std::string>{"b", "c"});  // next stage, and c returns results
  CHECK(plan->peersOf("b") == std::vector<std::string>{"a", "c"});
  CHECK(plan->peersOf("c") == std::vector<std::string>{"a", "b"});

  Result<Tensor> input = readNpy(std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-small/sample.npy");
  REQUIRE(input.ok());
  Result<std::unique_ptr<Session>> whole = Session::create(config->bundle.graph);
  REQUIRE(whole.ok());
  Result<std::vector<Tensor>> expected = (*whole)->run({*input});
  REQUIRE(expected.ok());

  // What an agent does: parse the bytes it was sent (checked against the hash), import, run.
  std::vector<Tensor> values{*input};
  for (const FleetStage& s : plan->stages) {
    const std::string& bytes = plan->graphs.at(s.hash);
    CHECK(proto::contentHash(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())) == s.hash);
    onnx::ModelProto model;
    REQUIRE(model.ParseFromString(bytes));
    Result<Graph> graph = importOnnxModel(model);
    REQUIRE_MESSAGE(graph.ok(), graph.error().message);
    REQUIRE(graph->inputs.size() == s.inputs.size());
    Result<std::unique_ptr<Session>> session = Session::create(*graph);
    REQUIRE(session.ok());
    Result<std::vector<Tensor>> out = (*session)->run(values);
    REQUIRE_MESSAGE(out.ok(), out.error().message);
    values = std::move(*out);
  }
  REQUIRE(values.size() == 1);
  CHECK(values[0].identical((*expected)[0]));
}

TEST_CASE("planning around an offline agent, and hand-made plans") {
  Result<config::FleetConfig> config = config::loadFleetConfig(TOPOLOGY);
  REQUIRE(config.ok());
  Result<OnlinePlan> withoutB = planOnline(config->problem, {"a", "c"});
  REQUIRE(withoutB.ok());
  REQUIRE(withoutB->plan.stages.size() == 2);
  CHECK(withoutB->names[withoutB->plan.stages[1].device] == "c");
  CHECK_FALSE(planOnline(config->problem, {"b", "c"}).ok());  // the source is offline

  Result<OnlinePlan> manual = evaluateOnline(config->problem, everyone(), {"a", "b", "c"}, {2, 3});
  REQUIRE_MESSAGE(manual.ok(), manual.error().message);
  CHECK(manual->plan.cuts() == std::vector<int64_t>{2, 3});
  CHECK_FALSE(evaluateOnline(config->problem, everyone(), {"a", "b", "c"}, {1, 4}).ok());  // b cannot hold 1-3
  CHECK_FALSE(evaluateOnline(config->problem, everyone(), {"a", "b", "c"}, {4}).ok());     // a cut missing
  CHECK_FALSE(evaluateOnline(config->problem, everyone(), {"a", "b", "c"}, {4, 2}).ok());  // out of order
  CHECK_FALSE(evaluateOnline(config->problem, everyone(), {"a", "b", "c"}, {0, 8}).ok());  // b cannot hold 0-7
  CHECK_FALSE(evaluateOnline(config->problem, {"a", "c"}, {"a", "b", "c"}, {2, 4}).ok());  // b offline
}

}  // namespace cleave::daemon

namespace cleave::daemon {
namespace {

const std::string NONN_TOPOLOGY = std::string(CLEAVE_SOURCE_DIR) + "/tests/fleet/nonn-4pi.toml";

// Runs a fleet plan's stages as agents would, in stage order (every edge goes forward): graphs
// parsed from the bytes sent; the entry stage takes the image, every other stage exactly what its
// upstream routes carry from the stages they name (each route's `next` twin checked), zeros for
// its zeroed inputs. A route with a wrong stage or tensor list gives a missing input or a wrong one.
Tensor runStages(const FleetPlan& plan, const Tensor& image) {
  std::vector<std::map<std::string, Tensor>> produced(plan.stages.size());
  std::vector<Tensor> last;
  for (const FleetStage& s : plan.stages) {
    std::map<std::string, Tensor> values;
    if (s.upstream.empty()) values["image"] = image;
    for (const proto::RouteSpec& route : s.upstream) {
      REQUIRE(route.stage < s.index);
      const FleetStage& sender = plan.stages[route.stage];
      CHECK(route.agent == sender.agent);
      CHECK(std::count_if(sender.next.begin(), sender.next.end(), [&](const proto::RouteSpec& n) {
              return n.stage == s.index && n.agent == s.agent && n.tensors == route.tensors;
            }) == 1);
      for (const std::string& name : route.tensors) values[name] = produced[route.stage].at(name);
    }
    const std::string& bytes = plan.graphs.at(s.hash);
    onnx::ModelProto model;
    REQUIRE(model.ParseFromString(bytes));
    Result<Graph> graph = importOnnxModel(model);
    REQUIRE_MESSAGE(graph.ok(), graph.error().message);
    Result<std::unique_ptr<Session>> session = Session::create(*graph);
    REQUIRE_MESSAGE(session.ok(), session.error().message);
    std::vector<Tensor> inputs;
    for (const NamedType& in : s.inputs) {
      const bool zeroed = std::find(s.zeroedInputs.begin(), s.zeroedInputs.end(), in.name) != s.zeroedInputs.end();
      inputs.push_back(zeroed ? Tensor::zeros(in.type) : values.at(in.name));
    }
    Result<std::vector<Tensor>> out = (*session)->run(inputs);
    REQUIRE_MESSAGE(out.ok(), out.error().message);
    for (size_t i = 0; i < s.outputs.size(); ++i) produced[s.index][s.outputs[i].name] = (*out)[i];
    last = std::move(*out);
  }
  REQUIRE(last.size() == 1);
  return last[0];
}

// The students and the fusion run directly from the bundle, the named student's features zeroed.
Tensor nonnDirect(const config::ModelBundle& bundle, const Tensor& image, std::optional<size_t> missing) {
  std::vector<Tensor> features;
  for (size_t k = 0; k < bundle.nonn->students.size(); ++k) {
    Result<std::unique_ptr<Session>> student = Session::create(bundle.nonn->students[k].graph);
    REQUIRE(student.ok());
    Result<std::vector<Tensor>> out = (*student)->run({image});
    REQUIRE(out.ok());
    features.push_back(k == missing ? Tensor::zeros((*out)[0].type()) : (*out)[0]);
  }
  Result<std::unique_ptr<Session>> fusion = Session::create(bundle.nonn->fusion.graph);
  REQUIRE(fusion.ok());
  Result<std::vector<Tensor>> out = (*fusion)->run(features);
  REQUIRE(out.ok());
  return (*out)[0];
}

}  // namespace

TEST_CASE("a nonn plan's stage graphs travel as ONNX bytes and compute the NoNN; a lost student is zeroed") {
  Result<config::FleetConfig> config = config::loadFleetConfig(NONN_TOPOLOGY);
  REQUIRE_MESSAGE(config.ok(), config.error().message);
  Result<Tensor> image = readNpy(std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-nonn-4/sample.npy");
  REQUIRE(image.ok());
  const std::set<std::string> all{"pi1", "pi2", "pi3", "pi4", "fuse"};

  Result<OnlinePlan> planned = planOnline(config->problem, all, planner::Strategy::Nonn, config->allowed);
  REQUIRE_MESSAGE(planned.ok(), planned.error().message);
  Result<FleetPlan> plan = buildFleetPlan(config->bundle, planned->plan, planned->names);
  REQUIRE_MESSAGE(plan.ok(), plan.error().message);
  REQUIRE(plan->stages.size() == 6);  // relay, four students, fusion on the sink
  CHECK(plan->stages[0].agent == "pi1");
  CHECK(plan->stages[0].label == "relay");
  CHECK(plan->stages[0].next.size() == 4);
  CHECK(plan->stages[5].label == "fusion");
  CHECK(plan->stages[5].agent == "fuse");
  CHECK(plan->stages[5].upstream.size() == 4);
  CHECK(plan->stages[5].zeroedInputs.empty());
  // Each student's Pi hears from the source (the image; it is also the origin) and sends to the
  // fusion; the source, as origin, talks to everyone.
  for (const char* pi : {"pi2", "pi3", "pi4"}) CHECK(plan->peersOf(pi) == std::vector<std::string>{"fuse", "pi1"});
  CHECK(plan->peersOf("fuse") == std::vector<std::string>{"pi1", "pi2", "pi3", "pi4"});
  CHECK(plan->peersOf("pi1") == std::vector<std::string>{"fuse", "pi2", "pi3", "pi4"});
  CHECK(runStages(*plan, *image).identical(nonnDirect(config->bundle, *image, std::nullopt)));
  proto::PlanSpec push = planSpecFor(*plan, "fuse", config->bundle.name);
  REQUIRE(push.stages.size() == 1);
  CHECK(push.stages[0].gathersInputs());
  CHECK(push.strategy == wire::Strategy::NONN);

  // pi3 offline: no device can hold its student (memory binds), so the fusion runs without one.
  Result<OnlinePlan> degraded =
      planOnline(config->problem, {"pi1", "pi2", "pi4", "fuse"}, planner::Strategy::Nonn, config->allowed);
  REQUIRE_MESSAGE(degraded.ok(), degraded.error().message);
  REQUIRE(degraded->plan.missingStudents.size() == 1);
  const size_t missing = degraded->plan.missingStudents[0];
  Result<FleetPlan> without = buildFleetPlan(config->bundle, degraded->plan, degraded->names);
  REQUIRE_MESSAGE(without.ok(), without.error().message);
  CHECK(without->stages.back().zeroedInputs == std::vector<std::string>{fmt::format("features_{}", missing)});
  CHECK(runStages(*without, *image).identical(nonnDirect(config->bundle, *image, missing)));
  // And the running plan re-costed by name under the same figures is the plan itself.
  Result<OnlinePlan> again = reevaluateOnline(config->problem, {"pi1", "pi2", "pi4", "fuse"}, without->plan, without->names);
  REQUIRE_MESSAGE(again.ok(), again.error().message);
  CHECK(again->plan.latencySeconds == doctest::Approx(degraded->plan.latencySeconds).epsilon(1e-9));
  CHECK(assignmentKey(again->plan, again->names) == assignmentKey(degraded->plan, degraded->names));
  CHECK_FALSE(reevaluateOnline(config->problem, {"pi1", "pi4", "fuse"}, without->plan, without->names).ok());
}

TEST_CASE("auto over the teacher and its students: nonn on Gigabit links, split of the teacher at 1 Mbit/s") {
  Result<config::FleetConfig> config =
      config::loadFleetConfig(std::string(CLEAVE_SOURCE_DIR) + "/configs/nonn-8pi.toml");
  REQUIRE_MESSAGE(config.ok(), config.error().message);
  REQUIRE(config->allowed == std::vector<planner::Strategy>{planner::Strategy::Nonn, planner::Strategy::Split});
  std::set<std::string> all;
  for (const planner::DeviceProfile& d : config->problem.fleet.devices) all.insert(d.name);

  auto best = [&](const planner::PlanningProblem& problem, planner::Strategy strategy) {
    Result<OnlinePlan> p = planOnline(problem, all, strategy, config->allowed);
    REQUIRE_MESSAGE(p.ok(), p.error().message);
    return p->plan;
  };
  // Each strategy alone (each solver checked against exhaustive search in planner/), then auto.
  auto check = [&](const planner::PlanningProblem& problem, planner::Strategy expected) {
    const planner::Plan nonn = best(problem, planner::Strategy::Nonn), split = best(problem, planner::Strategy::Split);
    const planner::Plan chosen = best(problem, planner::Strategy::Auto);
    CHECK(chosen.strategy == expected);
    CHECK(chosen.cost == doctest::Approx(std::min(nonn.cost, split.cost)).epsilon(1e-9));
    MESSAGE("nonn " << nonn.latencySeconds * 1e3 << " ms, split " << split.latencySeconds * 1e3 << " ms");
  };
  check(config->problem, planner::Strategy::Nonn);

  // pi1 (the camera) reaches everyone at 1 Mbit/s: four copies of the image cost more than a
  // chain that sends it once.
  planner::PlanningProblem slow = config->problem;
  const size_t pi1 = *slow.fleet.deviceIndex("pi1");
  for (planner::Link& link : slow.fleet.links)
    if (link.a == pi1 || link.b == pi1) link.bytesPerSecond = link.reverseBytesPerSecond = 125e3;
  check(slow, planner::Strategy::Split);
}

}  // namespace cleave::daemon

// A plan made concrete: its stage graphs, shipped as ONNX bytes, run in order to the whole
// model's output; peers and stages per agent; planning around an offline agent.
#include "daemon/fleet_plan.h"

#include <doctest/doctest.h>
#include <onnx/onnx_pb.h>

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

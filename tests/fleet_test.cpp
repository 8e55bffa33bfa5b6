// The fleet end to end: cleaved and three cleave-agents as real processes on 127.0.0.1 with
// CURVE, running fmnist-small split over all three (tests/fleet/three-agents.toml). Fashion-MNIST
// test images go through the fleet and every result must be bit-identical to the single-process
// runtime's; an agent is SIGKILLed mid-stream and every request must still get exactly one
// correct result; the agent comes back and is planned in again.
#include <signal.h>

#include <map>
#include <set>

#include <doctest/doctest.h>

#include "tests/fleet/fleet_harness.h"
#include "tests/fleet/frozen_thread.h"

namespace cleave::testing {
namespace {

const std::string TOPOLOGY = std::string(CLEAVE_SOURCE_DIR) + "/tests/fleet/three-agents.toml";


// Waits for a plan event whose computing agents are exactly `agents`.
void waitForPlan(OperatorClient& watcher, const std::set<std::string>& agents, FleetHarness& fleet) {
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    std::optional<OperatorReply> reply = watcher.receive(1s);
    if (!reply) continue;
    Result<DecodedReply> d = decodeReply(*reply);
    REQUIRE(d.ok());
    if (!d->reply.isEvent() || !d->reply.getEvent().isPlan()) continue;
    std::set<std::string> computing;
    for (auto s : d->reply.getEvent().getPlan().getStages())
      if (s.getEndNode() > s.getFirstNode()) computing.insert(s.getAgent());
    if (computing == agents) return;
  }
  FAIL("no plan over the expected agents within 30 s\ndaemon log:\n" << fleet.logTail("daemon"));
}

// Waits for a plan event whose reason is `reason`.
void waitForPlanReason(OperatorClient& watcher, const std::string& reason, FleetHarness& fleet) {
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    std::optional<OperatorReply> reply = watcher.receive(1s);
    if (!reply) continue;
    Result<DecodedReply> d = decodeReply(*reply);
    REQUIRE(d.ok());
    if (d->reply.isEvent() && d->reply.getEvent().isPlan() && d->reply.getEvent().getReason() == reason) return;
  }
  FAIL("no plan for '" << reason << "' within 30 s\ndaemon log:\n" << fleet.logTail("daemon"));
}

// Waits for the watch event saying `agent` went down (`down`) or registered.
void waitForAgentEvent(OperatorClient& watcher, const std::string& agent, bool down, FleetHarness& fleet) {
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    std::optional<OperatorReply> reply = watcher.receive(1s);
    if (!reply) continue;
    Result<DecodedReply> d = decodeReply(*reply);
    REQUIRE(d.ok());
    if (!d->reply.isEvent()) continue;
    auto event = d->reply.getEvent();
    if (down && event.isAgentDown() && event.getAgentDown() == agent) return;
    if (!down && event.isAgentUp() && event.getAgentUp() == agent) return;
  }
  FAIL("agent " << agent << " not reported " << (down ? "down" : "up") << " within 30 s\ndaemon log:\n"
                << fleet.logTail("daemon"));
}

// Receives replies until `expected` infer results have arrived; checks each against the reference.
void collect(OperatorClient& op, std::map<uint64_t, size_t>& sent, std::map<uint64_t, int>& received,
             const Reference& ref, size_t expected, FleetHarness& fleet) {
  auto deadline = std::chrono::steady_clock::now() + 60s;
  size_t got = 0;
  for (auto& [id, n] : received) got += static_cast<size_t>(n);
  while (got < expected) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                    "only " << got << " of " << expected << " results\ndaemon log:\n" << fleet.logTail("daemon"));
    std::optional<OperatorReply> reply = op.receive(1s);
    if (!reply) continue;
    Result<DecodedReply> d = decodeReply(*reply);
    REQUIRE(d.ok());
    uint64_t id = d->reply.getId();
    REQUIRE_MESSAGE(d->reply.isInferResult(), "request " << id << ": " << std::string(d->reply.isError() ? d->reply.getError().cStr() : "?") << "\n" << fleet.logTail("daemon"));
    REQUIRE(sent.count(id));
    ++received[id];
    ++got;
    CHECK_MESSAGE(inferOutput(*reply, d->reply).identical(ref.outputs[sent[id]]),
                  "request " << id << " differs from the runtime");
  }
}

// The three-agent fleet started and planned over all three, with a watcher (plan events, and
// agent events if `watchAgents`) and an operator client.
struct RunningFleet {
  std::unique_ptr<FleetHarness> fleet;
  std::unique_ptr<OperatorClient> watcher, op;
};

RunningFleet startFleet(zmq::context_t& context, bool watchAgents) {
  Result<std::unique_ptr<FleetHarness>> started = FleetHarness::start(TOPOLOGY);
  REQUIRE_MESSAGE(started.ok(), started.error().message);
  FleetHarness& fleet = **started;
  auto connect = [&] {
    Result<std::unique_ptr<OperatorClient>> client =
        OperatorClient::connect(context, fleet.operatorEndpoint(), fleet.keys("operator"), fleet.daemonPublicKey());
    REQUIRE_MESSAGE(client.ok(), client.error().message << "\n" << fleet.logTail("daemon"));
    return std::move(*client);
  };
  RunningFleet running{std::move(*started), connect(), nullptr};
  running.watcher->send([&](wire::OperatorRequest::Builder r) {
    r.initWatch().setPlans(true);
    r.getWatch().setAgents(watchAgents);
  });
  for (const char* name : {"a", "b", "c"}) REQUIRE(running.fleet->startAgent(name).ok());
  waitForPlan(*running.watcher, {"a", "b", "c"}, *running.fleet);
  running.op = connect();
  return running;
}

// Requests sent through the fleet (operator request id -> reference index) and the results
// received, each checked against the single-process runtime.
struct Requests {
  explicit Requests(Reference reference) : ref(std::move(reference)) {}
  Reference ref;
  std::map<uint64_t, size_t> sent;
  std::map<uint64_t, int> received;

  void send(OperatorClient& op, size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) sent[op.infer(ref.inputs[i])] = i;
  }
  // Until `total` results are in.
  void await(OperatorClient& op, size_t total, FleetHarness& fleet) { collect(op, sent, received, ref, total, fleet); }
  void checkEachOnce(size_t total) {
    for (auto& [id, n] : received) CHECK_MESSAGE(n == 1, "request " << id << " got " << n << " results");
    CHECK(received.size() == total);
  }
};

// `agent`'s compute thread, frozen (tests/fleet/frozen_thread.h).
FrozenThread freezeCompute(FleetHarness& fleet, const std::string& agent) {
  Result<FrozenThread> frozen = FrozenThread::freeze(fleet.agent(agent)->pid(), "cleave-compute");
  REQUIRE_MESSAGE(frozen.ok(), frozen.error().message);
  return std::move(*frozen);
}

}  // namespace

TEST_CASE("a split fleet: bit-identical results, an agent killed mid-stream, restarted and planned back in") {
  Reference ref = fmnistReference(std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-small", 250);
  zmq::context_t context;
  RunningFleet running = startFleet(context, false);
  FleetHarness& fleet = *running.fleet;
  OperatorClient& watcher = *running.watcher;
  OperatorClient& op = *running.op;
  std::map<uint64_t, size_t> sent;  // operator request id -> reference index
  std::map<uint64_t, int> received;

  // 200 requests; b is killed once a quarter of the results are in.
  for (size_t i = 0; i < 100; ++i) sent[op.infer(ref.inputs[i])] = i;
  collect(op, sent, received, ref, 50, fleet);
  fleet.killAgent("b", SIGKILL);
  for (size_t i = 100; i < 200; ++i) sent[op.infer(ref.inputs[i])] = i;
  collect(op, sent, received, ref, 200, fleet);
  waitForPlan(watcher, {"a", "c"}, fleet);

  // b comes back and is planned in again; requests keep being right.
  REQUIRE(fleet.startAgent("b").ok());
  waitForPlan(watcher, {"a", "b", "c"}, fleet);
  for (size_t i = 200; i < 240; ++i) sent[op.infer(ref.inputs[i])] = i;
  collect(op, sent, received, ref, 220, fleet);

  // c dies and is back before the daemon notices the silence: it re-registers while still
  // "online", gets the plan again, and what it held is run again.
  fleet.killAgent("c", SIGKILL);
  REQUIRE(fleet.startAgent("c").ok());
  for (size_t i = 240; i < 250; ++i) sent[op.infer(ref.inputs[i])] = i;
  collect(op, sent, received, ref, 250, fleet);

  // Exactly one result each: nothing more arrives before the reply to a later request.
  uint64_t statusId = op.send([](wire::OperatorRequest::Builder r) { r.setStatus(); });
  while (true) {
    std::optional<OperatorReply> reply = op.receive(10s);
    REQUIRE(reply);
    Result<DecodedReply> d = decodeReply(*reply);
    REQUIRE(d.ok());
    REQUIRE_MESSAGE(d->reply.getId() == statusId, "an extra reply for request " << d->reply.getId());
    auto status = d->reply.getStatus();
    CHECK(status.getAgentsOnline() == 3);
    CHECK(status.getRequestsCompleted() == 250);
    CHECK(status.getEpoch() >= 3);
    break;
  }
  for (auto& [id, n] : received) CHECK_MESSAGE(n == 1, "request " << id << " got " << n << " results");
  CHECK(received.size() == 250);
}

TEST_CASE("the sink dies while no plan can replace it and comes back on a new port: its peers are told") {
  // Without c no plan exists (c is the sink), so the daemon keeps the broken epoch. c comes back
  // with a fresh data endpoint while that epoch is still current: b must learn the new endpoint
  // (a new epoch), or every request goes on to c's old, dead address and is never answered.
  Requests requests{fmnistReference(std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-small", 20)};
  zmq::context_t context;
  RunningFleet running = startFleet(context, true);
  FleetHarness& fleet = *running.fleet;
  OperatorClient& watcher = *running.watcher;
  OperatorClient& op = *running.op;
  requests.send(op, 0, 10);
  requests.await(op, 10, fleet);

  fleet.killAgent("c", SIGKILL);
  waitForAgentEvent(watcher, "c", true, fleet);
  REQUIRE(fleet.startAgent("c").ok());
  waitForAgentEvent(watcher, "c", false, fleet);
  requests.send(op, 10, 20);
  requests.await(op, 20, fleet);
  requests.checkEachOnce(20);
}

TEST_CASE("b's compute thread stops while b keeps heartbeating: planned around, every request answered once") {
  // A kernel that never returns, stood in for by ptrace stopping b's compute thread alone. b's
  // heartbeats say it stalled (stall_timeout 2 s); the daemon plans a -> c without it and the
  // origin runs what b held again. When b's compute moves again it is planned back in.
  Requests requests{fmnistReference(std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-small", 40)};
  zmq::context_t context;
  RunningFleet running = startFleet(context, true);
  FleetHarness& fleet = *running.fleet;
  OperatorClient& watcher = *running.watcher;
  OperatorClient& op = *running.op;
  requests.send(op, 0, 10);
  requests.await(op, 10, fleet);

  // Idle now, so the thread is frozen in its wait for work, holding no lock.
  FrozenThread frozen = freezeCompute(fleet, "b");
  requests.send(op, 10, 30);
  requests.await(op, 30, fleet);
  waitForPlan(watcher, {"a", "c"}, fleet);
  CHECK_MESSAGE(fleet.logTail("daemon", 200).find("[b] compute stalled: stage") != std::string::npos,
                fleet.logTail("daemon"));
  Result<OperatorReply> agents = op.call([](wire::OperatorRequest::Builder r) { r.setAgents(); });
  REQUIRE(agents.ok());
  Result<DecodedReply> listed = decodeReply(*agents);
  REQUIRE(listed.ok());
  for (wire::AgentInfo::Reader agent : listed->reply.getAgents())
    CHECK_MESSAGE((agent.getStalled().size() > 0) == (agent.getName() == "b"), agent.getName().cStr());

  frozen.thaw();
  waitForPlan(watcher, {"a", "b", "c"}, fleet);
  requests.send(op, 30, 40);
  requests.await(op, 40, fleet);
  requests.checkEachOnce(40);
  CHECK_MESSAGE(fleet.logTail("b", 400).find("1 compute stalls") != std::string::npos, fleet.logTail("b"));
}

TEST_CASE("b dies holding requests of the plan just replaced: the next plan abandons them at once") {
  // An operator moves the plan off b while b holds requests of the old epoch (its compute thread
  // frozen, so they wait there), then b dies. The daemon must count b as holding requests for the
  // origins' re-run time after the plan that used it was replaced, and make a new epoch that
  // abandons the old ones; otherwise nothing changes in the plan and they wait 10 s at the origin.
  Requests requests{fmnistReference(std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-small", 15)};
  zmq::context_t context;
  RunningFleet running = startFleet(context, false);
  FleetHarness& fleet = *running.fleet;
  OperatorClient& watcher = *running.watcher;
  OperatorClient& op = *running.op;
  requests.send(op, 0, 10);
  requests.await(op, 10, fleet);

  FrozenThread frozen = freezeCompute(fleet, "b");
  requests.send(op, 10, 15);
  Result<OperatorReply> applied = op.call([](wire::OperatorRequest::Builder r) {
    r.initPlanApply().setToml("strategy = \"split\"\nroute = [\"a\", \"c\"]\ncuts = [2]\n");
  });
  REQUIRE(applied.ok());
  waitForPlan(watcher, {"a", "c"}, fleet);
  // Killed frozen: thawed first, b would finish the requests itself before it died.
  fleet.agent("b")->kill(SIGKILL);
  REQUIRE(frozen.reapAfterKill(5s));
  fleet.killAgent("b", SIGKILL);  // reaps the process
  waitForPlanReason(watcher, "agent b down", fleet);
  requests.await(op, 15, fleet);
  requests.checkEachOnce(15);
}

}  // namespace cleave::testing

// Adaptive re-planning end to end, with nothing lost: cleaved and three cleave-agents as real
// processes on 127.0.0.1 with CURVE. Agent a shapes its link to b with a trace that flips
// between 40 Mbps and 500 kbps every 1.2 s (tests/fleet/flip-trace.csv); the best split differs
// by ~2x between the two, so the daemon must follow each flip from the agents' measurements
// alone. Fashion-MNIST images stream through the fleet with several requests outstanding the
// whole time; every request must get exactly one result, bit-identical to the single-process
// runtime's, across at least ten re-plans.
#include <fstream>
#include <map>
#include <set>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <thread>

#include "tests/fleet/fleet_harness.h"

namespace cleave::testing {
namespace {

const std::string FLEET_DIR = std::string(CLEAVE_SOURCE_DIR) + "/tests/fleet";
constexpr size_t IMAGES = 200;
constexpr size_t OUTSTANDING = 4;
constexpr int WANTED_REPLANS = 10;


// The daemon's plan lines and the agents' link estimates, for a failure message.
std::string planHistory(const FleetHarness& fleet) {
  std::string out;
  for (const char* name : {"daemon", "a"}) {
    std::ifstream in(fleet.dir() / "logs" / (std::string(name) + ".log"));
    std::string line;
    while (std::getline(in, line))
      if (line.find("plan epoch") != std::string::npos || line.find("link to b") != std::string::npos) out += line + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("a trace that flips the best split: ten re-plans from measurements, every request answered once") {
  Reference ref = fmnistReference(std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-small", IMAGES);
  Result<std::unique_ptr<FleetHarness>> started = FleetHarness::start(FLEET_DIR + "/adaptive.toml");
  REQUIRE_MESSAGE(started.ok(), started.error().message);
  FleetHarness& fleet = **started;
  zmq::context_t context;
  auto connect = [&] {
    Result<std::unique_ptr<OperatorClient>> client =
        OperatorClient::connect(context, fleet.operatorEndpoint(), fleet.keys("operator"), fleet.daemonPublicKey());
    REQUIRE_MESSAGE(client.ok(), client.error().message << "\n" << fleet.logTail("daemon"));
    return std::move(*client);
  };
  std::unique_ptr<OperatorClient> watcher = connect();
  watcher->send([](wire::OperatorRequest::Builder r) { r.initWatch().setPlans(true); });
  const std::string shape = fmt::format("[[shape]]\npeer = \"b\"\ntrace = \"{}/flip-trace.csv\"\n", FLEET_DIR);
  REQUIRE(fleet.startAgent("a", "keys", shape).ok());
  REQUIRE(fleet.startAgent("b").ok());
  REQUIRE(fleet.startAgent("c").ok());

  std::unique_ptr<OperatorClient> op = connect();
  std::map<uint64_t, size_t> sent;  // operator request id -> reference image
  std::map<uint64_t, int> answers;
  std::set<uint64_t> epochsSeen;
  std::vector<std::string> linkReplans;
  size_t next = 0, outstanding = 0;
  bool planned = false;

  auto readPlans = [&] {
    while (std::optional<OperatorReply> reply = watcher->receive(0ms)) {
      Result<DecodedReply> d = decodeReply(*reply);
      REQUIRE(d.ok());
      if (!d->reply.isEvent() || !d->reply.getEvent().isPlan()) continue;
      planned = true;
      std::string reason = d->reply.getEvent().getReason();
      if (reason.rfind("link a -> b moved", 0) == 0) {
        linkReplans.push_back(reason);
        CHECK(d->reply.getEvent().getPreviousPredictedSeconds() > d->reply.getEvent().getPlan().getPredictedLatencySeconds());
      }
    }
  };
  auto readResult = [&](std::chrono::milliseconds wait) {
    std::optional<OperatorReply> reply = op->receive(wait);
    if (!reply) return;
    Result<DecodedReply> d = decodeReply(*reply);
    REQUIRE(d.ok());
    const uint64_t id = d->reply.getId();
    REQUIRE(sent.count(id));
    REQUIRE_MESSAGE(d->reply.isInferResult(),
                    "request " << id << ": " << std::string(d->reply.isError() ? d->reply.getError().cStr() : "?")
                               << "\n" << planHistory(fleet) << fleet.logTail("a", 40));
    ++answers[id];
    --outstanding;
    epochsSeen.insert(d->reply.getInferResult().getEpoch());
    CHECK_MESSAGE(inferOutput(*reply, d->reply).identical(ref.outputs[sent[id]]),
                  "request " << id << " differs from the runtime");
  };

  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (static_cast<int>(linkReplans.size()) < WANTED_REPLANS) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                    "only " << linkReplans.size() << " link re-plans in 60 s\n"
                            << planHistory(fleet));
    readPlans();
    if (!planned) {
      std::this_thread::yield();
      readResult(20ms);  // nothing is outstanding yet; this only paces the loop
      continue;
    }
    while (outstanding < OUTSTANDING) {
      sent[op->infer(ref.inputs[next % IMAGES], 30)] = next % IMAGES;
      ++next;
      ++outstanding;
    }
    readResult(50ms);
  }
  // Drain: every request still out gets its one answer.
  const auto drainDeadline = std::chrono::steady_clock::now() + 60s;
  while (outstanding > 0) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < drainDeadline, outstanding << " requests never answered");
    readResult(1s);
  }
  // Nothing more arrives before the reply to a later request: exactly one answer each.
  const uint64_t statusId = op->send([](wire::OperatorRequest::Builder r) { r.setStatus(); });
  while (true) {
    std::optional<OperatorReply> reply = op->receive(10s);
    REQUIRE(reply);
    Result<DecodedReply> d = decodeReply(*reply);
    REQUIRE(d.ok());
    if (d->reply.getId() == statusId) break;
    FAIL("an extra reply to request " << d->reply.getId());
  }
  MESSAGE(sent.size() << " requests over " << linkReplans.size() << " link re-plans and " << epochsSeen.size()
                      << " epochs; first: " << linkReplans.front());
  CHECK(sent.size() == answers.size());
  for (const auto& [id, count] : answers) CHECK_MESSAGE(count == 1, "request " << id << " answered " << count << " times");
  CHECK(epochsSeen.size() >= static_cast<size_t>(WANTED_REPLANS));
}

}  // namespace cleave::testing

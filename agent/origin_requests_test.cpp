// The origin's bookkeeping: one result per request, and the re-run rules of the fleet spec.
#include "agent/origin_requests.h"

#include <doctest/doctest.h>

#include <algorithm>

namespace cleave::agent {
namespace {

using namespace std::chrono_literals;

std::vector<proto::WireTensor> someInput() {
  return {proto::WireTensor{"x", Tensor::fromVector<float>({2}, {1.0f, 2.0f}), std::nullopt, 1, 0}};
}

bool contains(const std::vector<uint64_t>& ids, uint64_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

TEST_CASE("each request completes once; duplicates and unknown results are refused") {
  OriginRequests origin;
  const Clock::time_point t0 = Clock::now();
  CHECK(origin.submit(1, someInput(), t0) == OriginRequests::SubmitOutcome::Accepted);
  CHECK(origin.submit(1, someInput(), t0) == OriginRequests::SubmitOutcome::Duplicate);
  origin.started(1, 5, t0);
  std::optional<PendingRequest> first = origin.complete(1);
  REQUIRE(first.has_value());
  CHECK(first->epoch == 5);
  CHECK(first->attempts == 1);
  REQUIRE(first->inputs.size() == 1);
  CHECK(first->inputs[0].tensor.values<float>()[1] == 2.0f);
  CHECK_FALSE(origin.complete(1).has_value());   // a second result
  CHECK_FALSE(origin.complete(99).has_value());  // never submitted
  CHECK(origin.size() == 0);
}

TEST_CASE("unnamed inputs take the entry stage's names by position; named ones keep theirs") {
  OriginRequests origin;
  const Clock::time_point t0 = Clock::now();
  Tensor value = Tensor::fromVector<float>({1}, {3.0f});
  std::vector<proto::WireTensor> inputs = {{"", value, std::nullopt, 0, 0},
                                           {"mask", value, std::nullopt, 0, 0},
                                           {"", value, std::nullopt, 0, 0}};
  REQUIRE(origin.submit(7, inputs, t0) == OriginRequests::SubmitOutcome::Accepted);
  origin.nameInputs(7, {"image", "weights"});  // fewer names than inputs: the third stays unnamed
  origin.nameInputs(8, {"ignored"});           // not pending: nothing happens
  const PendingRequest* request = origin.find(7);
  REQUIRE(request != nullptr);
  CHECK(request->inputs[0].name == "image");
  CHECK(request->inputs[1].name == "mask");
  CHECK(request->inputs[2].name.empty());
  origin.nameInputs(7, {"a", "b", "c"});  // already named stays named
  CHECK(request->inputs[0].name == "image");
  CHECK(request->inputs[2].name == "c");
}

TEST_CASE("requests wait for a plan, then start") {
  OriginRequests origin;
  const Clock::time_point t0 = Clock::now();
  REQUIRE(origin.submit(1, someInput(), t0) == OriginRequests::SubmitOutcome::Accepted);
  CHECK(origin.due(0, 0, t0).run.empty());  // no plan yet
  CHECK(origin.due(2, 0, t0).runIds() == std::vector<uint64_t>{1});
  origin.started(1, 2, t0);
  CHECK(origin.due(2, 0, t0).run.empty());  // running
}

TEST_CASE("abandonBefore re-runs requests of older epochs only") {
  OriginRequests origin;
  const Clock::time_point t0 = Clock::now();
  for (uint64_t id : {1, 2, 3}) REQUIRE(origin.submit(id, someInput(), t0) == OriginRequests::SubmitOutcome::Accepted);
  origin.started(1, 1, t0);
  origin.started(2, 2, t0);
  origin.started(3, 3, t0);
  OriginRequests::Due due = origin.due(3, 3, t0);
  CHECK(due.runIds() == std::vector<uint64_t>{1, 2});
  // Without abandonBefore, older epochs drain.
  CHECK(origin.due(3, 0, t0).run.empty());
}

TEST_CASE("a failure re-runs under a newer epoch at once, or under the same one after a back-off") {
  OriginRequests origin;
  const Clock::time_point t0 = Clock::now();
  REQUIRE(origin.submit(7, someInput(), t0) == OriginRequests::SubmitOutcome::Accepted);
  origin.started(7, 4, t0);
  CHECK_FALSE(origin.failed(7, 3));  // an older attempt's failure changes nothing
  CHECK(origin.due(5, 0, t0).run.empty());
  CHECK(origin.failed(7, 4));
  CHECK(origin.due(4, 0, t0).run.empty());  // the newest epoch is the request's own: back off first
  CHECK(origin.nextDeadline() == t0 + OriginRequests::RETRY_FIRST);
  CHECK(origin.due(4, 0, t0 + OriginRequests::RETRY_FIRST).runIds() == std::vector<uint64_t>{7});
  CHECK(origin.due(5, 0, t0).runIds() == std::vector<uint64_t>{7});
  CHECK(origin.due(5, 0, t0).run[0].reason == OriginRequests::Reason::Failed);
  origin.started(7, 5, t0);
  CHECK(origin.find(7)->attempts == 2);
  CHECK_FALSE(origin.find(7)->rerunWanted);
  CHECK_FALSE(origin.failed(99, 5));
}

TEST_CASE("a peer that moved past the epoch: the request waits for a newer plan, not a back-off") {
  OriginRequests origin;
  const Clock::time_point t0 = Clock::now();
  REQUIRE(origin.submit(7, someInput(), t0) == OriginRequests::SubmitOutcome::Accepted);
  origin.started(7, 4, t0);
  CHECK(origin.failed(7, 4, true));
  // Under epoch 4 again it would fail the same way, however long it backs off.
  CHECK(origin.due(4, 0, t0 + std::chrono::seconds(5)).run.empty());
  CHECK(origin.nextDeadline() == t0 + OriginRequests::RERUN_AFTER);
  CHECK(origin.due(5, 0, t0 + std::chrono::milliseconds(1)).runIds() == std::vector<uint64_t>{7});
  origin.started(7, 5, t0);
  CHECK(origin.find(7)->attempts == 2);
  // With no newer plan ever, it still runs again once RERUN_AFTER has passed.
  CHECK(origin.failed(7, 5, true));
  OriginRequests::Due late = origin.due(5, 0, t0 + OriginRequests::RERUN_AFTER);
  REQUIRE(late.run.size() == 1);
  CHECK(late.run[0].reason == OriginRequests::Reason::TimedOut);
}

TEST_CASE("a request pending for 10 s re-runs, under a newer epoch if there is one") {
  OriginRequests origin;
  const Clock::time_point t0 = Clock::now();
  REQUIRE(origin.submit(1, someInput(), t0) == OriginRequests::SubmitOutcome::Accepted);
  origin.started(1, 2, t0);
  CHECK(origin.nextDeadline() == t0 + OriginRequests::RERUN_AFTER);
  CHECK(origin.due(3, 0, t0 + 9s).run.empty());
  CHECK(origin.due(2, 0, t0 + 11s).runIds() == std::vector<uint64_t>{1});  // timed out: runs again
  CHECK(origin.due(3, 0, t0 + 12s).runIds() == std::vector<uint64_t>{1});
  CHECK(origin.due(3, 0, t0 + 12s).run[0].reason == OriginRequests::Reason::TimedOut);
}

TEST_CASE("retry delays double per attempt up to a cap") {
  CHECK(OriginRequests::retryDelay(1) == OriginRequests::RETRY_FIRST);
  CHECK(OriginRequests::retryDelay(2) == 2 * OriginRequests::RETRY_FIRST);
  CHECK(OriginRequests::retryDelay(3) == 4 * OriginRequests::RETRY_FIRST);
  CHECK(OriginRequests::retryDelay(30) == OriginRequests::RETRY_MAX);
}

TEST_CASE("after an epoch reset every request starts again; attempts are capped") {
  OriginRequests origin;
  Clock::time_point t = Clock::now();
  REQUIRE(origin.submit(1, someInput(), t) == OriginRequests::SubmitOutcome::Accepted);
  origin.started(1, 9, t);
  origin.resetEpochs();
  CHECK(origin.due(1, 0, t).runIds() == std::vector<uint64_t>{1});  // epoch 1 < 9, yet it runs
  for (uint32_t attempt = 1; attempt < OriginRequests::MAX_ATTEMPTS; ++attempt) {
    origin.started(1, attempt, t);
    REQUIRE(origin.failed(1, attempt));
  }
  CHECK(origin.find(1)->attempts == OriginRequests::MAX_ATTEMPTS);
  OriginRequests::Due due = origin.due(100, 0, t);
  CHECK(due.run.empty());
  CHECK(contains(due.giveUp, 1));
}

TEST_CASE("the origin holds a bounded number of requests") {
  OriginRequests origin;
  const Clock::time_point t0 = Clock::now();
  for (uint64_t id = 0; id < OriginRequests::MAX_PENDING; ++id)
    REQUIRE(origin.submit(id, {}, t0) == OriginRequests::SubmitOutcome::Accepted);
  CHECK(origin.submit(OriginRequests::MAX_PENDING, {}, t0) == OriginRequests::SubmitOutcome::Full);
}

}  // namespace cleave::agent

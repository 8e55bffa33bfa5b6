// The fan-in buffer: a multi-input stage runs once per request, on exactly the inputs sent for
// that request, within bounded count, bytes and time.
#include "agent/fan_in.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>

namespace cleave::agent {
namespace {

using namespace std::chrono_literals;
using Outcome = FanIn::Outcome;

// A fusion stage: three inputs of different types, so a mix-up of names or order shows.
const std::vector<ValueInfo> FUSION = {
    {"features_0", TensorType{DType::F32, {1, 2}}},  // 8 bytes
    {"features_1", TensorType{DType::F32, {1, 3}}},  // 12 bytes
    {"features_2", TensorType{DType::I32, {2}}},     // 8 bytes
};
const std::vector<std::string> NONE_ZEROED;

// Input `index` of FUSION, its values derived from `seed`, so tensors of different requests differ.
proto::WireTensor feature(size_t index, int seed) {
  const float f = static_cast<float>(seed);
  Tensor tensor = index == 0   ? Tensor::fromVector<float>({1, 2}, {f + 0.25f, f + 0.5f})
                  : index == 1 ? Tensor::fromVector<float>({1, 3}, {f + 1.25f, f + 1.5f, f + 1.75f})
                               : Tensor::fromVector<int32_t>({2}, {seed * 10 + 1, seed * 10 + 2});
  return proto::WireTensor{FUSION[index].name, tensor, std::nullopt, 1, 0};
}

struct To {
  uint64_t requestId = 1;
  std::string origin = "student-host";
  uint64_t epoch = 3;
  uint32_t stage = 2;
};

proto::TensorMessage message(const To& to, std::vector<proto::WireTensor> tensors) {
  proto::TensorMessage m;
  m.requestId = to.requestId;
  m.origin = to.origin;
  m.epoch = to.epoch;
  m.stage = to.stage;
  m.tensors = std::move(tensors);
  return m;
}

FanIn::Offer offer(FanIn& fanIn, const To& to, std::vector<proto::WireTensor> tensors, Clock::time_point now,
                   const std::vector<std::string>& zeroed = NONE_ZEROED) {
  return fanIn.offer(FUSION, zeroed, message(to, std::move(tensors)), now);
}

// The whole set for `seed`, in FUSION's order, with the exact contents.
void checkComplete(const FanIn::Offer& got, int seed) {
  REQUIRE(got.outcome == Outcome::Complete);
  REQUIRE(got.inputs.size() == FUSION.size());
  for (size_t i = 0; i < FUSION.size(); ++i) {
    CAPTURE(i);
    CHECK(got.inputs[i].name == FUSION[i].name);
    CHECK(got.inputs[i].tensor.identical(feature(i, seed).tensor));
  }
}

bool allZero(const Tensor& tensor) {
  const std::byte* bytes = tensor.raw();
  return std::all_of(bytes, bytes + tensor.bytes(), [](std::byte b) { return b == std::byte{0}; });
}

}  // namespace

TEST_CASE("three inputs in any order complete exactly once, in the stage's order") {
  const Clock::time_point t0 = Clock::now();
  std::array<size_t, 3> order = {0, 1, 2};
  int permutations = 0;
  do {
    CAPTURE(order[0]);
    CAPTURE(order[1]);
    CAPTURE(order[2]);
    FanIn fanIn;
    CHECK(offer(fanIn, {}, {feature(order[0], 5)}, t0).outcome == Outcome::Waiting);
    CHECK(offer(fanIn, {}, {feature(order[1], 5)}, t0).outcome == Outcome::Waiting);
    CHECK(fanIn.pending() == 1);
    CHECK(fanIn.bytes() == feature(order[0], 5).tensor.bytes() + feature(order[1], 5).tensor.bytes());
    checkComplete(offer(fanIn, {}, {feature(order[2], 5)}, t0), 5);
    CHECK(fanIn.pending() == 0);
    CHECK(fanIn.bytes() == 0);
    CHECK_FALSE(fanIn.nextDeadline().has_value());
    ++permutations;
  } while (std::next_permutation(order.begin(), order.end()));
  CHECK(permutations == 6);
}

TEST_CASE("a message with every input completes at once, stores nothing, and is never Full") {
  const Clock::time_point t0 = Clock::now();
  FanIn fanIn(FanIn::Limits{.maxPending = 1, .maxBytes = 8, .maxWait = 10s});
  REQUIRE(offer(fanIn, {.requestId = 1}, {feature(0, 1)}, t0).outcome == Outcome::Waiting);  // now full
  checkComplete(offer(fanIn, {.requestId = 2}, {feature(2, 2), feature(0, 2), feature(1, 2)}, t0), 2);
  CHECK(fanIn.pending() == 1);
  CHECK(fanIn.bytes() == 8);

  // A single-input stage takes the same path.
  const std::vector<ValueInfo> single = {{"x", TensorType{DType::F32, {1, 2}}}};
  const proto::TensorMessage one =
      message({.requestId = 3}, {proto::WireTensor{"x", feature(0, 3).tensor, std::nullopt, 1, 0}});
  FanIn::Offer got = fanIn.offer(single, NONE_ZEROED, one, t0);
  REQUIRE(got.outcome == Outcome::Complete);
  REQUIRE(got.inputs.size() == 1);
  CHECK(got.inputs[0].name == "x");
  CHECK(got.inputs[0].tensor.identical(feature(0, 3).tensor));
  CHECK(fanIn.pending() == 1);
}

TEST_CASE("requests never mix: ids, origins, stages and epochs each keep their own set") {
  const Clock::time_point t0 = Clock::now();
  // Each differs from the first in one part of the key only.
  const std::vector<To> requests = {
      {.requestId = 7, .origin = "a", .epoch = 3, .stage = 2}, {.requestId = 8, .origin = "a", .epoch = 3, .stage = 2},
      {.requestId = 7, .origin = "b", .epoch = 3, .stage = 2}, {.requestId = 7, .origin = "a", .epoch = 3, .stage = 4},
      {.requestId = 7, .origin = "a", .epoch = 4, .stage = 2},
  };
  FanIn fanIn;
  for (size_t r = 0; r < requests.size(); ++r)
    REQUIRE(offer(fanIn, requests[r], {feature(0, static_cast<int>(r))}, t0).outcome == Outcome::Waiting);
  for (size_t r = 0; r < requests.size(); ++r)
    REQUIRE(offer(fanIn, requests[r], {feature(2, static_cast<int>(r))}, t0).outcome == Outcome::Waiting);
  CHECK(fanIn.pending() == requests.size());
  for (size_t r = requests.size(); r-- > 0;) {
    CAPTURE(r);
    checkComplete(offer(fanIn, requests[r], {feature(1, static_cast<int>(r))}, t0), static_cast<int>(r));
    CHECK(fanIn.pending() == r);
  }
  CHECK(fanIn.bytes() == 0);
}

TEST_CASE("a re-sent tensor is a Duplicate: the first copy is kept and nothing completes or fails") {
  const Clock::time_point t0 = Clock::now();
  FanIn fanIn(FanIn::Limits{.maxWait = 10s});
  REQUIRE(offer(fanIn, {}, {feature(0, 1)}, t0).outcome == Outcome::Waiting);
  const uint64_t held = fanIn.bytes();

  FanIn::Offer again = offer(fanIn, {}, {feature(0, 9)}, t0 + 9s);  // other contents: must not replace
  CHECK(again.outcome == Outcome::Duplicate);
  CHECK(again.inputs.empty());
  CHECK(fanIn.pending() == 1);
  CHECK(fanIn.bytes() == held);
  CHECK(fanIn.nextDeadline() == t0 + 10s);  // the wait still counts from the first tensor

  // A message overlapping one already taken adds only what is new.
  CHECK(offer(fanIn, {}, {feature(0, 9), feature(1, 1)}, t0 + 9s).outcome == Outcome::Waiting);
  CHECK(offer(fanIn, {}, {feature(1, 9), feature(0, 9)}, t0 + 9s).outcome == Outcome::Duplicate);
  CHECK(fanIn.expire(t0 + 10s - 1ns).empty());
  checkComplete(offer(fanIn, {}, {feature(2, 1)}, t0 + 9s), 1);
}

TEST_CASE("an unexpected name or type is refused, naming it, and the stored inputs stay") {
  const Clock::time_point t0 = Clock::now();
  FanIn fanIn;
  REQUIRE(offer(fanIn, {}, {feature(0, 1)}, t0).outcome == Outcome::Waiting);
  const uint64_t held = fanIn.bytes();

  proto::WireTensor stranger = feature(1, 1);
  stranger.name = "features_9";
  FanIn::Offer got = offer(fanIn, {}, {stranger}, t0);
  CHECK(got.outcome == Outcome::Unexpected);
  CHECK(got.detail.find("'features_9'") != std::string::npos);

  proto::WireTensor wrongShape = feature(1, 1);
  wrongShape.tensor = Tensor::fromVector<float>({1, 2}, {1.0f, 2.0f});
  got = offer(fanIn, {}, {wrongShape}, t0);
  CHECK(got.outcome == Outcome::Unexpected);
  CHECK(got.detail.find("'features_1'") != std::string::npos);
  CHECK(got.detail.find(wrongShape.tensor.type().toString()) != std::string::npos);
  CHECK(got.detail.find(FUSION[1].type.toString()) != std::string::npos);

  proto::WireTensor wrongDtype = feature(2, 1);
  wrongDtype.tensor = Tensor::fromVector<float>({2}, {1.0f, 2.0f});
  got = offer(fanIn, {}, {wrongDtype}, t0);
  CHECK(got.outcome == Outcome::Unexpected);
  CHECK(got.detail.find(FUSION[2].type.toString()) != std::string::npos);

  // One bad tensor refuses the whole message: its good tensor is not stored either.
  CHECK(offer(fanIn, {}, {feature(1, 1), stranger}, t0).outcome == Outcome::Unexpected);
  CHECK(offer(fanIn, {}, {feature(1, 1), feature(1, 1)}, t0).outcome == Outcome::Unexpected);
  CHECK(offer(fanIn, {}, {}, t0).outcome == Outcome::Unexpected);

  CHECK(fanIn.pending() == 1);
  CHECK(fanIn.bytes() == held);
  CHECK(offer(fanIn, {}, {feature(1, 1)}, t0).outcome == Outcome::Waiting);  // not a Duplicate
  checkComplete(offer(fanIn, {}, {feature(2, 1)}, t0), 1);
}

TEST_CASE("a zeroed input is never waited for, arrives as zeros of its type, and may not be sent") {
  const Clock::time_point t0 = Clock::now();
  const std::vector<std::string> zeroed = {"features_1"};
  FanIn fanIn;
  REQUIRE(offer(fanIn, {}, {feature(2, 4)}, t0, zeroed).outcome == Outcome::Waiting);
  FanIn::Offer refused = offer(fanIn, {}, {feature(1, 4)}, t0, zeroed);
  CHECK(refused.outcome == Outcome::Unexpected);
  CHECK(refused.detail.find("'features_1'") != std::string::npos);
  CHECK(fanIn.bytes() == feature(2, 4).tensor.bytes());

  FanIn::Offer got = offer(fanIn, {}, {feature(0, 4)}, t0, zeroed);
  REQUIRE(got.outcome == Outcome::Complete);
  REQUIRE(got.inputs.size() == 3);
  CHECK(got.inputs[0].tensor.identical(feature(0, 4).tensor));
  CHECK(got.inputs[1].name == "features_1");
  CHECK(got.inputs[1].tensor.type() == FUSION[1].type);
  CHECK(allZero(got.inputs[1].tensor));
  CHECK(got.inputs[2].tensor.identical(feature(2, 4).tensor));

  // Both sent inputs in one message: complete at once.
  CHECK(offer(fanIn, {.requestId = 2}, {feature(2, 5), feature(0, 5)}, t0, zeroed).outcome == Outcome::Complete);
  // A partial set that expires names only the inputs that could have come.
  REQUIRE(offer(fanIn, {.requestId = 3}, {feature(0, 6)}, t0, zeroed).outcome == Outcome::Waiting);
  std::vector<FanIn::Expired> expired = fanIn.expire(t0 + 1h);
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].missing == std::vector<std::string>{"features_2"});
}

TEST_CASE("what earlier stages fed as zeros travels on: the complete set carries the senders' lists, merged") {
  const Clock::time_point t0 = Clock::now();
  FanIn fanIn;
  proto::TensorMessage first = message({}, {feature(0, 1)});
  first.zeroedInputs = {"features_9"};
  REQUIRE(fanIn.offer(FUSION, NONE_ZEROED, std::move(first), t0).outcome == Outcome::Waiting);
  proto::TensorMessage second = message({}, {feature(1, 1)});
  second.zeroedInputs = {"features_8", "features_9"};
  REQUIRE(fanIn.offer(FUSION, NONE_ZEROED, std::move(second), t0).outcome == Outcome::Waiting);
  FanIn::Offer got = fanIn.offer(FUSION, NONE_ZEROED, message({}, {feature(2, 1)}), t0);
  checkComplete(got, 1);
  CHECK(got.zeroedUpstream == std::vector<std::string>{"features_9", "features_8"});
  // A whole set in one message keeps its own list.
  proto::TensorMessage whole = message({.requestId = 2}, {feature(0, 2), feature(1, 2), feature(2, 2)});
  whole.zeroedInputs = {"features_7"};
  CHECK(fanIn.offer(FUSION, NONE_ZEROED, std::move(whole), t0).zeroedUpstream == std::vector<std::string>{"features_7"});
}

TEST_CASE("at maxPending a new request is Full until one completes; its own inputs still come in") {
  const Clock::time_point t0 = Clock::now();
  FanIn fanIn(FanIn::Limits{.maxPending = 2});
  REQUIRE(offer(fanIn, {.requestId = 1}, {feature(0, 1)}, t0).outcome == Outcome::Waiting);
  REQUIRE(offer(fanIn, {.requestId = 2}, {feature(0, 2)}, t0).outcome == Outcome::Waiting);
  FanIn::Offer full = offer(fanIn, {.requestId = 3}, {feature(0, 3)}, t0);
  CHECK(full.outcome == Outcome::Full);
  CHECK_FALSE(full.detail.empty());
  CHECK(fanIn.pending() == 2);
  CHECK(fanIn.bytes() == 16);

  CHECK(offer(fanIn, {.requestId = 1}, {feature(1, 1)}, t0).outcome == Outcome::Waiting);
  checkComplete(offer(fanIn, {.requestId = 1}, {feature(2, 1)}, t0), 1);
  CHECK(offer(fanIn, {.requestId = 3}, {feature(0, 3)}, t0).outcome == Outcome::Waiting);
  CHECK(offer(fanIn, {.requestId = 3}, {feature(1, 3), feature(2, 3)}, t0).outcome == Outcome::Complete);
  checkComplete(offer(fanIn, {.requestId = 2}, {feature(2, 2), feature(1, 2)}, t0), 2);
}

TEST_CASE("past maxBytes a message is Full and nothing is stored; a completing one still goes through") {
  const Clock::time_point t0 = Clock::now();
  FanIn fanIn(FanIn::Limits{.maxBytes = 20});
  REQUIRE(offer(fanIn, {.requestId = 1}, {feature(0, 1)}, t0).outcome == Outcome::Waiting);  // 8 bytes
  REQUIRE(offer(fanIn, {.requestId = 2}, {feature(1, 2)}, t0).outcome == Outcome::Waiting);  // 12: exactly at the limit
  CHECK(fanIn.bytes() == 20);
  FanIn::Offer full = offer(fanIn, {.requestId = 3}, {feature(0, 3)}, t0);
  CHECK(full.outcome == Outcome::Full);
  CHECK(full.detail.find("20") != std::string::npos);
  CHECK(offer(fanIn, {.requestId = 1}, {feature(1, 1)}, t0).outcome == Outcome::Full);  // a known request too
  CHECK(fanIn.pending() == 2);
  CHECK(fanIn.bytes() == 20);

  checkComplete(offer(fanIn, {.requestId = 1}, {feature(1, 1), feature(2, 1)}, t0), 1);
  CHECK(fanIn.bytes() == 12);
  CHECK(offer(fanIn, {.requestId = 3}, {feature(0, 3)}, t0).outcome == Outcome::Waiting);
  CHECK(fanIn.bytes() == 20);
  checkComplete(offer(fanIn, {.requestId = 2}, {feature(0, 2), feature(2, 2)}, t0), 2);
  CHECK(fanIn.bytes() == 8);
}

TEST_CASE("a partial set expires exactly maxWait after its first tensor, naming what is missing") {
  const Clock::time_point t0 = Clock::now();
  const To first{.requestId = 1, .origin = "o", .epoch = 5, .stage = 6};
  FanIn fanIn(FanIn::Limits{.maxWait = 10s});
  CHECK_FALSE(fanIn.nextDeadline().has_value());
  REQUIRE(offer(fanIn, first, {feature(1, 1)}, t0).outcome == Outcome::Waiting);
  REQUIRE(offer(fanIn, {.requestId = 2}, {feature(2, 2)}, t0 + 3s).outcome == Outcome::Waiting);
  REQUIRE(offer(fanIn, first, {feature(0, 1)}, t0 + 5s).outcome == Outcome::Waiting);  // does not restart the wait
  CHECK(fanIn.nextDeadline() == t0 + 10s);

  CHECK(fanIn.expire(t0 + 10s - 1ns).empty());
  CHECK(fanIn.pending() == 2);
  std::vector<FanIn::Expired> expired = fanIn.expire(t0 + 10s);
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].epoch == 5);
  CHECK(expired[0].stage == 6);
  CHECK(expired[0].origin == "o");
  CHECK(expired[0].requestId == 1);
  CHECK(expired[0].missing == std::vector<std::string>{"features_2"});
  CHECK(fanIn.bytes() == feature(2, 2).tensor.bytes());
  CHECK(fanIn.nextDeadline() == t0 + 13s);

  expired = fanIn.expire(t0 + 13s);
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].requestId == 2);
  CHECK(expired[0].missing == std::vector<std::string>{"features_0", "features_1"});
  CHECK(fanIn.pending() == 0);
  CHECK(fanIn.bytes() == 0);
  CHECK_FALSE(fanIn.nextDeadline().has_value());

  // A request that completed in time is gone: nothing left to expire.
  REQUIRE(offer(fanIn, {.requestId = 3}, {feature(0, 3)}, t0 + 20s).outcome == Outcome::Waiting);
  REQUIRE(offer(fanIn, {.requestId = 3}, {feature(1, 3), feature(2, 3)}, t0 + 21s).outcome == Outcome::Complete);
  CHECK(fanIn.expire(t0 + 1h).empty());
}

TEST_CASE("dropping old epochs gives back their partial sets and keeps the newer ones") {
  const Clock::time_point t0 = Clock::now();
  FanIn fanIn;
  REQUIRE(offer(fanIn, {.requestId = 1, .epoch = 3, .stage = 9}, {feature(0, 1)}, t0).outcome == Outcome::Waiting);
  REQUIRE(offer(fanIn, {.requestId = 2, .epoch = 4, .stage = 0}, {feature(0, 2)}, t0).outcome == Outcome::Waiting);
  REQUIRE(offer(fanIn, {.requestId = 3, .epoch = 5, .stage = 0}, {feature(1, 3)}, t0).outcome == Outcome::Waiting);
  REQUIRE(offer(fanIn, {.requestId = 4, .epoch = 6, .stage = 1}, {feature(0, 4)}, t0).outcome == Outcome::Waiting);

  std::vector<FanIn::Expired> dropped = fanIn.dropEpochsBelow(5);
  REQUIRE(dropped.size() == 2);
  CHECK(dropped[0].requestId == 1);
  CHECK(dropped[0].epoch == 3);
  CHECK(dropped[0].missing == std::vector<std::string>{"features_1", "features_2"});
  CHECK(dropped[1].requestId == 2);
  CHECK(dropped[1].epoch == 4);
  CHECK(fanIn.pending() == 2);
  CHECK(fanIn.bytes() == 20);
  CHECK(fanIn.dropEpochsBelow(5).empty());

  checkComplete(offer(fanIn, {.requestId = 3, .epoch = 5, .stage = 0}, {feature(0, 3), feature(2, 3)}, t0), 3);
  // A dropped set is gone: its next tensor starts a new one.
  CHECK(offer(fanIn, {.requestId = 1, .epoch = 3, .stage = 9}, {feature(1, 1)}, t0).outcome == Outcome::Waiting);
}

}  // namespace cleave::agent

// Inputs of multi-input stages, gathered per request until the set is complete. When a plan is
// a graph of stages, a stage may take its inputs from several upstream stages (a NoNN fusion
// takes `features_i` from student i's agent), each sending its own activations message with a
// subset of the inputs; the stage must run once, on the whole set.
//
// Bounded in requests (maxPending), tensor bytes (maxBytes) and time (maxWait from a request's
// first tensor): a partial set that times out is handed back so the caller fails the request to
// its origin, which runs it again. Pure bookkeeping: no sockets, no clock of its own (callers
// pass `now`).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "proto/tensor_frame.h"
#include "runtime/graph.h"

namespace cleave::agent {

using Clock = std::chrono::steady_clock;

class FanIn {
 public:
  struct Limits {
    // Requests with a partial set. An origin holds at most 1024 requests (OriginRequests) and
    // agents keep two epochs, so a plan with one origin never needs more than 2048: below that,
    // a burst of re-runs after a re-plan is refused, and every refused request leaves partial
    // sets of its other inputs behind, so the stage can stay full until they expire.
    size_t maxPending = 2048;
    uint64_t maxBytes = 256ull << 20;     // tensor bytes held over all partial sets
    Clock::duration maxWait = std::chrono::seconds(10);  // from a request's first tensor
  };
  FanIn();  // the default Limits (a default argument cannot use them inside the class)
  explicit FanIn(Limits limits);

  enum class Outcome {
    Waiting,     // stored; other inputs are still to come
    Complete,    // the set is whole: `inputs` holds it, and the request is forgotten
    Duplicate,   // every tensor was already held (a re-sent message): nothing changes
    Unexpected,  // a tensor the stage does not take, or of the wrong type: nothing stored
    Full,        // storing it would pass maxPending or maxBytes: nothing stored
  };
  struct Offer {
    Outcome outcome = Outcome::Waiting;
    std::vector<proto::WireTensor> inputs;  // Complete: every input, in the stage's order
    std::vector<std::string> zeroedUpstream;  // Complete: the messages' zeroedInputs, merged
    std::string detail;                     // Unexpected, Full: why, for the failure sent back
  };

  // Takes one activations message for its (epoch, stage, origin, requestId); request ids are
  // unique per origin agent only, so the origin is part of the key.
  // `expected`: the stage's inputs in order. `zeroed`: inputs this plan never sends (a NoNN
  // student left out): they are never waited for, and the stage gets zeros of the declared type;
  // a tensor arriving for one is Unexpected.
  // Every tensor must be an expected input of exactly its declared type, and appear once in the
  // message; otherwise the message is Unexpected and the request's stored inputs are kept. Of
  // inputs already held the first copy is kept: the data plane re-sends unacknowledged messages,
  // so a second copy is normal and must not fail the request. (A message that overlaps an
  // earlier one yet brings new inputs, which no valid plan sends, adds only the new ones.)
  // A message that brings the whole set at once (a single-input stage) completes without being
  // stored, as does one that completes a partial set, so neither is ever Full.
  Offer offer(const std::vector<ValueInfo>& expected, const std::vector<std::string>& zeroed,
              proto::TensorMessage message, Clock::time_point now);

  // A partial set given up on, for the caller to fail back to `origin`.
  struct Expired {
    uint64_t epoch = 0;
    uint32_t stage = 0;
    std::string origin;
    uint64_t requestId = 0;
    std::vector<std::string> missing;  // inputs that never arrived, in the stage's order
  };
  // Removes and returns the partial sets whose first tensor is maxWait old or older.
  std::vector<Expired> expire(Clock::time_point now);
  // When expire() next has something to do; nullopt when nothing is waiting.
  std::optional<Clock::time_point> nextDeadline() const;
  // Removes and returns every partial set of an epoch below `epoch` (epochs the agent dropped).
  std::vector<Expired> dropEpochsBelow(uint64_t epoch);

  size_t pending() const { return partial_.size(); }
  uint64_t bytes() const { return bytes_; }

 private:
  // Epoch first, so the sets of old epochs are a prefix of the map.
  struct Key {
    uint64_t epoch = 0;
    uint32_t stage = 0;
    std::string origin;
    uint64_t requestId = 0;
    auto operator<=>(const Key&) const = default;
  };
  struct Partial {
    Clock::time_point firstAt;
    std::vector<std::string> awaited;         // inputs that must arrive (not zeroed), in order
    std::vector<proto::WireTensor> received;  // of `awaited`, in arrival order
    std::vector<std::string> zeroedUpstream;   // what earlier stages fed as zeros, merged
    uint64_t bytes = 0;
  };
  using Partials = std::map<Key, Partial>;

  // Why storing `addedBytes` more (for a new request, when `newRequest`) would pass the limits.
  std::optional<std::string> overLimits(bool newRequest, uint64_t addedBytes) const;
  // Erases a partial set, adding it to `out`; returns the next one.
  Partials::iterator remove(Partials::iterator it, std::vector<Expired>& out);

  Limits limits_;
  Partials partial_;
  uint64_t bytes_ = 0;
};

}  // namespace cleave::agent

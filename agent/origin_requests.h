// Requests held by their origin agent. The origin keeps each request's inputs until its first
// result returns, so a request lost with a dead agent or a dropped epoch can run again under a
// newer plan; results are deduplicated by request id, so each submit gets exactly one
// `completed`. Pure bookkeeping: no sockets, no clock of its own (callers pass `now`).
//
// Re-run rules (fleet spec): a pending request runs again under the newest epoch when
//   - it has not started yet (no plan was accepted when it arrived, or the epochs were reset),
//   - a plan arrives with abandonBefore above the request's epoch,
//   - a `failure` came back for it, or it has been pending for RERUN_AFTER,
// but in the last two cases only if the newest epoch is newer than the request's; otherwise it
// waits for the next plan.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "proto/tensor_frame.h"

namespace cleave::agent {

using Clock = std::chrono::steady_clock;

struct PendingRequest {
  uint64_t id = 0;
  std::vector<proto::WireTensor> inputs;  // the model's inputs, as submitted
  uint64_t epoch = 0;                     // epoch of the current attempt; 0: not started
  uint32_t attempts = 0;
  bool rerunWanted = false;  // the current attempt failed or timed out
  bool timedOut = false;     // ... timed out (for logs)
  bool waitForNewerEpoch = false;  // a peer had moved past the attempt's epoch: rerun under a newer one
  Clock::time_point submittedAt;
  Clock::time_point startedAt;  // of the current attempt
};

class OriginRequests {
 public:
  static constexpr std::chrono::seconds RERUN_AFTER{10};
  // A failed attempt (a receiver overloaded or still loading the plan) runs again after this
  // delay, doubled per attempt up to RETRY_MAX, under the newest epoch even if it is the same one.
  static constexpr std::chrono::milliseconds RETRY_FIRST{50};
  static constexpr std::chrono::milliseconds RETRY_MAX{2000};
  static Clock::duration retryDelay(uint32_t attempts);
  // Bounds the inputs held: a submit beyond this is answered at once with a failed completion.
  static constexpr size_t MAX_PENDING = 1024;
  // Attempts before the origin gives up and reports the request failed (a request whose
  // inputs every plan refuses must still get its one `completed`).
  static constexpr uint32_t MAX_ATTEMPTS = 8;

  enum class SubmitOutcome { Accepted, Duplicate, Full };
  SubmitOutcome submit(uint64_t id, std::vector<proto::WireTensor> inputs, Clock::time_point now);

  // Records that the request's next attempt starts now under `epoch`.
  void started(uint64_t id, uint64_t epoch, Clock::time_point now);

  // The first result for a request removes and returns it; later ones (and unknown ids) give
  // nullopt: a duplicate to drop and count.
  std::optional<PendingRequest> complete(uint64_t id);

  // A failure came back for `epoch`'s attempt: returns true when that is the current attempt
  // (a failure of an attempt already superseded changes nothing). `peerMovedOn`: the receiver
  // no longer runs that epoch (it dropped it for newer ones), so running again under the same
  // epoch would fail the same way; the request waits for a newer epoch instead (or RERUN_AFTER).
  bool failed(uint64_t id, uint64_t epoch, bool peerMovedOn = false);

  // Names the request's unnamed inputs after `names` by position (a local client may send its
  // tensors unnamed, as `cleavectl infer` does; only the plan's entry stage knows the names).
  // Named inputs and positions past `names` are left alone.
  void nameInputs(uint64_t id, const std::vector<std::string>& names);

  // After the epochs were reset (the daemon may have restarted with new numbers): every request
  // counts as not started.
  void resetEpochs();

  // Why a request is due to run.
  enum class Reason : uint8_t { NotStarted, Abandoned, Failed, TimedOut };
  struct Run {
    uint64_t id = 0;
    Reason reason = Reason::NotStarted;
  };
  struct Due {
    std::vector<Run> run;          // start now under the newest epoch (call started())
    std::vector<uint64_t> giveUp;  // out of attempts: report failed (call complete())
    std::vector<uint64_t> runIds() const;
  };
  // The requests that should run now under `newestEpoch` (0: no plan, nothing runs).
  // `abandonBefore` is the newly accepted plan's (0 when no plan was just accepted).
  Due due(uint64_t newestEpoch, uint64_t abandonBefore, Clock::time_point now);

  // When due() next has timeouts to look at; nullopt when nothing is pending.
  std::optional<Clock::time_point> nextDeadline() const;

  const PendingRequest* find(uint64_t id) const;
  size_t size() const { return pending_.size(); }

 private:
  std::map<uint64_t, PendingRequest> pending_;
};

}  // namespace cleave::agent

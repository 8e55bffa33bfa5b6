#include "agent/origin_requests.h"

namespace cleave::agent {

OriginRequests::SubmitOutcome OriginRequests::submit(uint64_t id, std::vector<proto::WireTensor> inputs,
                                                     Clock::time_point now) {
  if (pending_.contains(id)) return SubmitOutcome::Duplicate;
  if (pending_.size() >= MAX_PENDING) return SubmitOutcome::Full;
  PendingRequest request;
  request.id = id;
  request.inputs = std::move(inputs);
  request.submittedAt = now;
  request.startedAt = now;
  pending_.emplace(id, std::move(request));
  return SubmitOutcome::Accepted;
}

void OriginRequests::started(uint64_t id, uint64_t epoch, Clock::time_point now) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  it->second.epoch = epoch;
  it->second.attempts += 1;
  it->second.rerunWanted = false;
  it->second.timedOut = false;
  it->second.waitForNewerEpoch = false;
  it->second.startedAt = now;
}

std::optional<PendingRequest> OriginRequests::complete(uint64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return std::nullopt;
  PendingRequest request = std::move(it->second);
  pending_.erase(it);
  return request;
}

bool OriginRequests::failed(uint64_t id, uint64_t epoch, bool peerMovedOn) {
  auto it = pending_.find(id);
  if (it == pending_.end() || it->second.epoch != epoch || it->second.epoch == 0) return false;
  it->second.rerunWanted = true;
  it->second.waitForNewerEpoch = peerMovedOn;
  return true;
}

void OriginRequests::nameInputs(uint64_t id, const std::vector<std::string>& names) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  std::vector<proto::WireTensor>& inputs = it->second.inputs;
  for (size_t i = 0; i < inputs.size() && i < names.size(); ++i)
    if (inputs[i].name.empty()) inputs[i].name = names[i];
}

void OriginRequests::resetEpochs() {
  for (auto& [id, request] : pending_) {
    request.epoch = 0;
    request.rerunWanted = false;
    request.timedOut = false;
  }
}

Clock::duration OriginRequests::retryDelay(uint32_t attempts) {
  auto delay = RETRY_FIRST * (int64_t{1} << std::min<uint32_t>(attempts > 0 ? attempts - 1 : 0, 16));
  return std::min<Clock::duration>(delay, RETRY_MAX);
}

OriginRequests::Due OriginRequests::due(uint64_t newestEpoch, uint64_t abandonBefore, Clock::time_point now) {
  Due out;
  if (newestEpoch == 0) return out;
  for (auto& [id, request] : pending_) {
    if (request.epoch != 0 && (!request.rerunWanted || request.waitForNewerEpoch) &&
        now - request.startedAt >= RERUN_AFTER) {
      request.rerunWanted = true;
      request.timedOut = true;
    }
    Reason reason;
    if (request.epoch == 0)
      reason = Reason::NotStarted;
    else if (request.epoch < abandonBefore)
      reason = Reason::Abandoned;
    else if (request.rerunWanted &&
             (newestEpoch > request.epoch ||
              (!request.waitForNewerEpoch && now >= request.startedAt + retryDelay(request.attempts)) ||
              request.timedOut))
      reason = request.timedOut ? Reason::TimedOut : Reason::Failed;
    else
      continue;
    if (request.attempts >= MAX_ATTEMPTS)
      out.giveUp.push_back(id);
    else
      out.run.push_back(Run{id, reason});
  }
  return out;
}

std::vector<uint64_t> OriginRequests::Due::runIds() const {
  std::vector<uint64_t> ids;
  for (const Run& r : run) ids.push_back(r.id);
  return ids;
}

std::optional<Clock::time_point> OriginRequests::nextDeadline() const {
  std::optional<Clock::time_point> next;
  for (const auto& [id, request] : pending_) {
    if (request.epoch == 0) continue;
    // A failed attempt waits for its retry delay (or a newer plan); a running one for its time-out.
    const bool retrySoon = request.rerunWanted && !request.waitForNewerEpoch;
    Clock::time_point at = request.startedAt + (retrySoon ? retryDelay(request.attempts) : RERUN_AFTER);
    if (!next || at < *next) next = at;
  }
  return next;
}

const PendingRequest* OriginRequests::find(uint64_t id) const {
  auto it = pending_.find(id);
  return it == pending_.end() ? nullptr : &it->second;
}

}  // namespace cleave::agent

#include "agent/fan_in.h"

#include <algorithm>

#include <fmt/format.h>

namespace cleave::agent {
namespace {

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

const proto::WireTensor* findTensor(const std::vector<proto::WireTensor>& tensors, const std::string& name) {
  auto it = std::find_if(tensors.begin(), tensors.end(), [&](const proto::WireTensor& t) { return t.name == name; });
  return it == tensors.end() ? nullptr : &*it;
}

// Why the tensors are not distinct awaited inputs of the stage, each of its declared type;
// nullopt when they are.
std::optional<std::string> misfit(const std::vector<ValueInfo>& expected, const std::vector<std::string>& zeroed,
                                  const std::vector<proto::WireTensor>& tensors) {
  if (tensors.empty()) return "the message carries no tensors";
  for (size_t i = 0; i < tensors.size(); ++i) {
    const proto::WireTensor& t = tensors[i];
    auto input =
        std::find_if(expected.begin(), expected.end(), [&](const ValueInfo& spec) { return spec.name == t.name; });
    if (input == expected.end()) return fmt::format("'{}' is not an input of the stage", t.name);
    if (contains(zeroed, t.name))
      return fmt::format("input '{}' is zeroed in this plan, yet a tensor arrived for it", t.name);
    if (t.tensor.type() != input->type)
      return fmt::format("input '{}' is {}, the stage expects {}", t.name, t.tensor.type().toString(),
                         input->type.toString());
    const auto earlier = tensors.begin() + static_cast<std::ptrdiff_t>(i);
    if (std::any_of(tensors.begin(), earlier, [&](const proto::WireTensor& e) { return e.name == t.name; }))
      return fmt::format("input '{}' appears twice in the message", t.name);
  }
  return std::nullopt;
}

// The inputs that must arrive, in the stage's order. Names in `zeroed` that the stage does
// not take change nothing.
std::vector<std::string> awaitedInputs(const std::vector<ValueInfo>& expected, const std::vector<std::string>& zeroed) {
  std::vector<std::string> names;
  for (const ValueInfo& input : expected)
    if (!contains(zeroed, input.name)) names.push_back(input.name);
  return names;
}

uint64_t tensorBytes(const std::vector<proto::WireTensor>& tensors) {
  uint64_t bytes = 0;
  for (const proto::WireTensor& t : tensors) bytes += t.tensor.bytes();
  return bytes;
}

// Every input of the stage in its order: those received (which must include every awaited
// one), and zeros of the declared type for the zeroed ones.
std::vector<proto::WireTensor> assemble(const std::vector<ValueInfo>& expected, const std::vector<std::string>& zeroed,
                                        std::vector<proto::WireTensor> received) {
  std::vector<proto::WireTensor> inputs;
  inputs.reserve(expected.size());
  for (const ValueInfo& input : expected) {
    if (contains(zeroed, input.name)) {
      // channelsSent 0: none arrived (and, if ever forwarded, the whole tensor is sent).
      inputs.push_back(proto::WireTensor{input.name, Tensor::zeros(input.type), std::nullopt, 0, 0});
      continue;
    }
    auto it = std::find_if(received.begin(), received.end(),
                           [&](const proto::WireTensor& t) { return t.name == input.name; });
    inputs.push_back(std::move(*it));
  }
  return inputs;
}

// Adds the names in `more` that `names` lacks.
void merge(std::vector<std::string>& names, const std::vector<std::string>& more) {
  for (const std::string& name : more)
    if (!contains(names, name)) names.push_back(name);
}

}  // namespace

FanIn::FanIn() : FanIn(Limits{}) {}
FanIn::FanIn(Limits limits) : limits_(limits) {}

FanIn::Offer FanIn::offer(const std::vector<ValueInfo>& expected, const std::vector<std::string>& zeroed,
                          proto::TensorMessage message, Clock::time_point now) {
  if (std::optional<std::string> problem = misfit(expected, zeroed, message.tensors))
    return Offer{Outcome::Unexpected, {}, {}, std::move(*problem)};
  std::vector<proto::WireTensor>& arrived = message.tensors;
  Key key{message.epoch, message.stage, std::move(message.origin), message.requestId};
  const auto it = partial_.find(key);
  const bool newRequest = it == partial_.end();
  if (!newRequest) {
    std::erase_if(arrived, [&](const proto::WireTensor& t) { return findTensor(it->second.received, t.name); });
    if (arrived.empty()) return Offer{Outcome::Duplicate, {}, {}, {}};
  }

  const std::vector<std::string> awaited = awaitedInputs(expected, zeroed);
  const bool complete = std::all_of(awaited.begin(), awaited.end(), [&](const std::string& name) {
    return findTensor(arrived, name) || (!newRequest && findTensor(it->second.received, name));
  });
  if (complete) {
    if (newRequest)
      return Offer{Outcome::Complete, assemble(expected, zeroed, std::move(arrived)), std::move(message.zeroedInputs), {}};
    std::vector<proto::WireTensor> received = std::move(it->second.received);
    std::vector<std::string> zeroedUpstream = std::move(it->second.zeroedUpstream);
    merge(zeroedUpstream, message.zeroedInputs);
    std::move(arrived.begin(), arrived.end(), std::back_inserter(received));
    bytes_ -= it->second.bytes;
    partial_.erase(it);
    return Offer{Outcome::Complete, assemble(expected, zeroed, std::move(received)), std::move(zeroedUpstream), {}};
  }

  const uint64_t added = tensorBytes(arrived);
  if (std::optional<std::string> full = overLimits(newRequest, added))
    return Offer{Outcome::Full, {}, {}, std::move(*full)};
  bytes_ += added;
  if (newRequest) {
    partial_.emplace(std::move(key), Partial{now, awaited, std::move(arrived), std::move(message.zeroedInputs), added});
  } else {
    std::move(arrived.begin(), arrived.end(), std::back_inserter(it->second.received));
    merge(it->second.zeroedUpstream, message.zeroedInputs);
    it->second.bytes += added;
  }
  return Offer{Outcome::Waiting, {}, {}, {}};
}

std::optional<std::string> FanIn::overLimits(bool newRequest, uint64_t addedBytes) const {
  if (newRequest && partial_.size() >= limits_.maxPending)
    return fmt::format("{} requests are already waiting for inputs, the limit is {}", partial_.size(),
                       limits_.maxPending);
  // bytes_ never exceeds maxBytes, so the subtraction cannot wrap.
  if (addedBytes > limits_.maxBytes - bytes_)
    return fmt::format("{} more bytes of inputs would pass the limit of {} ({} held)", addedBytes, limits_.maxBytes,
                       bytes_);
  return std::nullopt;
}

std::vector<FanIn::Expired> FanIn::expire(Clock::time_point now) {
  std::vector<Expired> out;
  for (auto it = partial_.begin(); it != partial_.end();) {
    if (now >= it->second.firstAt + limits_.maxWait)
      it = remove(it, out);
    else
      ++it;
  }
  return out;
}

std::optional<Clock::time_point> FanIn::nextDeadline() const {
  std::optional<Clock::time_point> next;
  for (const auto& [key, partial] : partial_) {
    const Clock::time_point at = partial.firstAt + limits_.maxWait;
    if (!next || at < *next) next = at;
  }
  return next;
}

std::vector<FanIn::Expired> FanIn::dropEpochsBelow(uint64_t epoch) {
  std::vector<Expired> out;
  const auto end = partial_.lower_bound(Key{epoch, 0, {}, 0});
  for (auto it = partial_.begin(); it != end;) it = remove(it, out);
  return out;
}

FanIn::Partials::iterator FanIn::remove(Partials::iterator it, std::vector<Expired>& out) {
  const auto& [key, partial] = *it;
  Expired expired{key.epoch, key.stage, key.origin, key.requestId, {}};
  for (const std::string& name : partial.awaited)
    if (!findTensor(partial.received, name)) expired.missing.push_back(name);
  out.push_back(std::move(expired));
  bytes_ -= partial.bytes;
  return partial_.erase(it);
}

}  // namespace cleave::agent

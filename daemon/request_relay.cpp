#include "daemon/request_relay.h"

#include <algorithm>
#include <cmath>

#include <capnp/message.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "planner/units.h"
#include "proto/message_codec.h"

namespace cleave::daemon {
namespace {

// An infer request that names no timeout (0) gets this one.
constexpr double DEFAULT_INFER_TIMEOUT = 30;
constexpr double MAX_INFER_TIMEOUT = 3600;

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The names a degraded result says it lacked (nonn: missing students' features).
Result<std::vector<std::string>> readZeroedInputs(capnp::List<capnp::Text>::Reader list, size_t limit) {
  if (list.size() > limit) return Error{fmt::format("{} zeroed inputs, the limit is {}", list.size(), limit)};
  std::vector<std::string> names;
  for (auto name : list) {
    Result<std::string> text = proto::readText(name, proto::MAX_TENSOR_NAME, "completed.zeroedInputs");
    if (!text) return text.error();
    names.push_back(std::move(*text));
  }
  return names;
}

}  // namespace

void RequestRelay::accept(const std::string& operatorId, uint64_t operatorRequestId, wire::Infer::Reader infer,
                          std::span<zmq::message_t> tensorFrames) {
  auto refuse = [&](const std::string& why) { server_.replyError(operatorId, operatorRequestId, "infer: " + why); };
  auto headers = infer.getTensors();
  if (headers.size() != tensorFrames.size() || headers.size() == 0 || headers.size() > limits_.maxTensors)
    return refuse("one tensor frame per header, 1 to 16 tensors");
  const std::vector<ValueInfo>& inputs = bundle_.requestInputs();
  if (headers.size() != inputs.size())
    return refuse(fmt::format("the model takes {} inputs, got {}", inputs.size(), headers.size()));
  PendingInfer p;
  for (unsigned i = 0; i < headers.size(); ++i) {
    std::span<const std::byte> bytes(static_cast<const std::byte*>(tensorFrames[i].data()), tensorFrames[i].size());
    Result<proto::WireTensor> t = proto::decodeTensor(headers[i], bytes, limits_, &inputs[i].type);
    if (!t) return refuse(fmt::format("input {}: {}", i, t.error().message));
    if (t->name.empty()) t->name = inputs[i].name;  // one unnamed tensor per input, in order
    if (t->name != inputs[i].name)
      return refuse(fmt::format("input {} is '{}', the model's is '{}'", i, t->name, inputs[i].name));
    p.inputs.push_back(std::move(*t));
  }
  double timeout = infer.getTimeoutSeconds();
  if (!(std::isfinite(timeout) && timeout > 0)) timeout = DEFAULT_INFER_TIMEOUT;
  p.operatorId = operatorId;
  p.operatorRequestId = operatorRequestId;
  p.started = Clock::now();
  p.deadline = p.started + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(std::min(timeout, MAX_INFER_TIMEOUT)));
  pending_.emplace(++nextRequestId_, std::move(p));
  ++counters_.requests;
}

void RequestRelay::dispatch(const AgentRecord* origin) {
  if (!origin || !origin->online) return;
  for (auto& [id, p] : pending_) {
    if (p.submitted) continue;
    capnp::MallocMessageBuilder message;
    auto submit = message.initRoot<wire::ControlMessage>().initSubmit();
    submit.setRequestId(id);
    auto headers = submit.initTensors(static_cast<unsigned>(p.inputs.size()));
    Frames frames;
    bool ok = true;
    for (size_t i = 0; i < p.inputs.size() && ok; ++i) {
      Result<zmq::message_t> frame = proto::encodeTensor(p.inputs[i], headers[static_cast<unsigned>(i)]);
      ok = frame.ok();
      if (ok) frames.push_back(std::move(*frame));
    }
    if (!ok) continue;
    server_.sendToAgent(origin->routingId, message, std::move(frames));
    p.submitted = true;
  }
}

void RequestRelay::complete(const AgentRecord& from, wire::Completed::Reader completed,
                            std::span<zmq::message_t> tensorFrames) {
  uint64_t id = completed.getRequestId();
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    ++counters_.drops;  // a duplicate, or a request that already timed out
    spdlog::debug("[{}] completed request {} which is not pending", from.name, id);
    return;
  }
  PendingInfer& p = it->second;
  double seconds = secondsSince(p.started);
  if (completed.isFailed()) {
    Result<std::string> why = proto::readText(completed.getFailed(), 256, "completed.failed");
    server_.replyError(p.operatorId, p.operatorRequestId, fmt::format("request {} failed: {}", id, why ? *why : "?"));
    return finish(id, why ? *why : "failed", completed.getEpoch(), seconds);
  }
  auto headers = completed.getOutputs();
  if (headers.size() != tensorFrames.size() || headers.size() > limits_.maxTensors) {
    ++counters_.badMessages;
    return;
  }
  std::vector<proto::WireTensor> outputs;
  for (unsigned i = 0; i < headers.size(); ++i) {
    std::span<const std::byte> bytes(static_cast<const std::byte*>(tensorFrames[i].data()), tensorFrames[i].size());
    Result<proto::WireTensor> t = proto::decodeTensor(headers[i], bytes, limits_);
    if (!t) {
      ++counters_.badMessages;
      spdlog::warn("[{}] request {}: bad output tensor: {}", from.name, id, t.error().message);
      return;
    }
    outputs.push_back(std::move(*t));
  }
  Result<std::vector<std::string>> zeroed = readZeroedInputs(completed.getZeroedInputs(), limits_.maxTensors);
  if (!zeroed) {
    ++counters_.badMessages;
    spdlog::warn("[{}] request {}: bad completed message: {}", from.name, id, zeroed.error().message);
    server_.replyError(p.operatorId, p.operatorRequestId, fmt::format("request {} failed: its result was malformed", id));
    return finish(id, "malformed result", completed.getEpoch(), seconds);
  }
  capnp::MallocMessageBuilder reply;
  auto r = reply.initRoot<wire::ControlMessage>().initOperatorReply();
  r.setId(p.operatorRequestId);
  r.setFinal(true);
  auto result = r.initInferResult();
  result.setRequestId(id);
  result.setEpoch(completed.getEpoch());
  result.setLatencySeconds(seconds);
  result.setExitStage(completed.getExitStage());
  auto zeroedOut = result.initZeroedInputs(static_cast<unsigned>(zeroed->size()));
  for (size_t i = 0; i < zeroed->size(); ++i) zeroedOut.set(static_cast<unsigned>(i), (*zeroed)[i]);
  auto list = result.initTensors(static_cast<unsigned>(outputs.size()));
  Frames frames;
  for (size_t i = 0; i < outputs.size(); ++i) {
    Result<zmq::message_t> frame = proto::encodeTensor(outputs[i], list[static_cast<unsigned>(i)]);
    if (!frame) return;
    frames.push_back(std::move(*frame));
  }
  server_.sendToOperator(p.operatorId, reply, std::move(frames));
  ++counters_.results;
  spdlog::info("[{}] request {} completed under epoch {} in {}{}", from.name, id, completed.getEpoch(),
               planner::formatSeconds(seconds),
               zeroed->empty() ? std::string() : fmt::format(" (degraded: without {})", fmt::join(*zeroed, ", ")));
  finish(id, "", completed.getEpoch(), seconds, *zeroed);
}

void RequestRelay::expire() {
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (Clock::now() <= it->second.deadline) {
      ++it;
      continue;
    }
    server_.replyError(it->second.operatorId, it->second.operatorRequestId,
                       fmt::format("request {} timed out after {}", it->first,
                                   planner::formatSeconds(secondsSince(it->second.started))));
    uint64_t id = (it++)->first;
    finish(id, "timed out", 0, 0);
  }
}

void RequestRelay::finish(uint64_t requestId, const std::string& failure, uint64_t epoch, double seconds,
                          const std::vector<std::string>& zeroedInputs) {
  if (!failure.empty()) ++counters_.failed;
  pending_.erase(requestId);
  watchers_.broadcast(WatchKind::Plans, [&](wire::WatchEvent::Builder e) {
    auto r = e.initResult();
    r.setRequestId(requestId);
    r.setEpoch(epoch);
    r.setLatencySeconds(seconds);
    r.setFailed(failure);
    auto zeroed = r.initZeroedInputs(static_cast<unsigned>(zeroedInputs.size()));
    for (size_t i = 0; i < zeroedInputs.size(); ++i) zeroed.set(static_cast<unsigned>(i), zeroedInputs[i]);
  });
}

}  // namespace cleave::daemon

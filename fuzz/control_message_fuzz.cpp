// Cap'n Proto control messages (proto/control.capnp) as the daemon and agents decode them:
// frame 0 through DecodedMessage::fromFrame under CONTROL_LIMITS and root<ControlMessage>()
// inside decodeGuard (Daemon::onControl, ControlSession, ClientSocket), then, per case of the
// union, the decoders their handlers call: the agent's proto::decodePlanPush/proto::checkPlanFor, the
// daemon's decodeProfile, BandwidthTrace::fromPoints for a link shape (Agent::onLinkShape),
// decodeTensor/checkTensorFrames on the tensor frames that follow a submit, completed or infer,
// and readText/readKey32 with the handlers' caps. The handlers' socket replies are not run:
// they need a live daemon or agent. Frames are joined by FRAME_SEPARATOR (fuzz_frames.h).
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "proto/plan_codec.h"
#include "config/bandwidth_trace.h"
#include "daemon/profile_message.h"
#include "fuzz/fuzz_frames.h"
#include "proto/control.capnp.h"
#include "proto/message_codec.h"
#include "proto/tensor_frame.h"

namespace cleave::fuzz {
namespace {

using Frames = std::span<const zmq::message_t>;

// The caps the handlers use (daemon.cpp, agent/, operator_api.cpp).
constexpr size_t MAX_NAME = 64;
constexpr size_t MAX_ENDPOINT = 256;
constexpr size_t MAX_REASON = 1024;

template <class T>
Status statusOf(const Result<T>& result) {
  if (!result) return result.error();
  return {};
}

Status readTexts(std::initializer_list<std::pair<capnp::Text::Reader, size_t>> texts) {
  for (const auto& [text, cap] : texts) CLEAVE_TRY(proto::readText(text, cap, "text"));
  return {};
}

// Headers of the tensors that follow, as Agent::onSubmit and Daemon::handleCompleted/handleInfer
// check and decode them.
Status decodeTensors(capnp::List<wire::TensorHeader>::Reader headers, Frames frames) {
  proto::TensorLimits limits;
  CLEAVE_TRY(proto::checkTensorFrames(headers.size(), frames, limits));
  for (unsigned i = 0; i < headers.size(); ++i) CLEAVE_TRY(proto::decodeTensor(headers[i], bytesOf(frames[i]), limits));
  return {};
}

Status handleRegister(wire::Register::Reader reg) {
  CLEAVE_TRY(proto::readText(reg.getName(), MAX_NAME, "register.name"));
  CLEAVE_TRY(proto::readKey32(reg.getPublicKey(), "register.publicKey"));
  CLEAVE_TRY(daemon::decodeProfile(reg.getProfile(), "fuzz"));
  return statusOf(proto::readText(reg.getDataEndpoint(), MAX_ENDPOINT, "register.dataEndpoint"));
}

Status handlePlanPush(wire::PlanPush::Reader push) {
  Result<proto::PlanSpec> plan = proto::decodePlanPush(push);
  if (!plan) return plan.error();
  return proto::checkPlanFor(*plan, "pi1");
}

// Agent::onLinkShape: the points become a trace through the same checks as a trace file.
Status handleLinkShape(wire::LinkShape::Reader shape) {
  CLEAVE_TRY(proto::readText(shape.getPeer(), MAX_NAME, "linkShape.peer"));
  auto points = shape.getTrace();
  if (points.size() == 0 && shape.getBytesPerSecond() == 0) return {};
  std::vector<config::TracePoint> trace;
  if (points.size() == 0) trace.push_back({0.0, shape.getBytesPerSecond() * 8, shape.getRttSeconds()});
  for (auto point : points) trace.push_back({point.getSeconds(), point.getBytesPerSecond() * 8, point.getRttSeconds()});
  Result<config::BandwidthTrace> checked = config::BandwidthTrace::fromPoints(std::move(trace), "link shape");
  if (!checked) return checked.error();
  (void)checked->transmitEnd(0.0, 1500.0);
  return {};
}

Status handleOperatorRequest(wire::OperatorRequest::Reader request, Frames frames) {
  switch (request.which()) {
    case wire::OperatorRequest::PLAN_APPLY:
      return statusOf(proto::readText(request.getPlanApply().getToml(), 64 * 1024, "planApply.toml"));
    case wire::OperatorRequest::INFER:
      return decodeTensors(request.getInfer().getTensors(), frames);
    case wire::OperatorRequest::LINK_SET: {
      auto linkSet = request.getLinkSet();
      CLEAVE_TRY(readTexts({{linkSet.getFrom(), MAX_NAME}, {linkSet.getTo(), MAX_NAME}}));
      return linkSet.isShape() ? handleLinkShape(linkSet.getShape()) : Status{};
    }
    default:
      return {};
  }
}

Status handle(wire::ControlMessage::Reader message, Frames frames) {
  switch (message.which()) {
    case wire::ControlMessage::HELLO:
      return readTexts({{message.getHello().getName(), MAX_NAME}, {message.getHello().getSoftware(), MAX_REASON}});
    case wire::ControlMessage::HELLO_REPLY:
      return readTexts({{message.getHelloReply().getReason(), MAX_REASON}});
    case wire::ControlMessage::REGISTER:
      return handleRegister(message.getRegister());
    case wire::ControlMessage::REGISTER_REPLY:
      return readTexts({{message.getRegisterReply().getReason(), MAX_REASON}});
    case wire::ControlMessage::TELEMETRY:
      for (auto estimate : message.getTelemetry().getLinks()) CLEAVE_TRY(readTexts({{estimate.getPeer(), MAX_NAME}}));
      return {};
    case wire::ControlMessage::PLAN_PUSH:
      return handlePlanPush(message.getPlanPush());
    case wire::ControlMessage::PLAN_ACK:
      return readTexts({{message.getPlanAck().getReason(), MAX_REASON}});
    case wire::ControlMessage::GRAPH_REQUEST:
      return statusOf(proto::readKey32(message.getGraphRequest().getHash(), "graphRequest.hash"));
    case wire::ControlMessage::GRAPH_BLOB:
      return statusOf(proto::readKey32(message.getGraphBlob().getHash(), "graphBlob.hash"));
    case wire::ControlMessage::LINK_SHAPE:
      return handleLinkShape(message.getLinkShape());
    case wire::ControlMessage::SUBMIT:
      return decodeTensors(message.getSubmit().getTensors(), frames);
    case wire::ControlMessage::COMPLETED:
      if (message.getCompleted().isFailed()) return readTexts({{message.getCompleted().getFailed(), 256}});
      return decodeTensors(message.getCompleted().getOutputs(), frames);
    case wire::ControlMessage::OPERATOR_REQUEST:
      return handleOperatorRequest(message.getOperatorRequest(), frames);
    default:
      return {};
  }
}

}  // namespace
}  // namespace cleave::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cleave;
  // A control message and at most 16 tensor frames (the daemon's MAX_FRAMES).
  std::vector<zmq::message_t> frames = fuzz::splitFrames(data, size, 1 + 16);
  Result<proto::DecodedMessage> decoded = proto::DecodedMessage::fromFrame(frames[0], proto::CONTROL_LIMITS);
  if (!decoded) return 0;
  fuzz::Frames rest(frames.data() + 1, frames.size() - 1);
  Status handled = proto::decodeGuard("control message", [&]() -> Status {
    Result<wire::ControlMessage::Reader> root = decoded->root<wire::ControlMessage>();
    if (!root) return root.error();
    return fuzz::handle(*root, rest);
  });
  (void)handled.ok();
  return 0;
}

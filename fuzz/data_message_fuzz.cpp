// Data-plane messages (proto/data.capnp) and their tensor frames, as DataPlane decodes them:
// the header frame through DecodedMessage::fromFrame under DATA_HEADER_LIMITS and
// root<DataMessage>() inside decodeGuard, then by kind: activations and results through
// decodeTensorMessage (once as a stage with known input types receives them, once as an origin
// or a future epoch does, without), failures and acks by their fields. The header-plus-frames
// overload of decodeTensorMessage is run as well. Frames are joined by FRAME_SEPARATOR.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fuzz/fuzz_frames.h"
#include "proto/data.capnp.h"
#include "proto/message_codec.h"
#include "proto/tensor_frame.h"

namespace cleave::fuzz {
namespace {

using Frames = std::span<const zmq::message_t>;

// A stage's inputs as the seeds' activations carry them (fmnist's 1x1x28x28 image).
const std::vector<TensorType> EXPECTED = {TensorType{DType::F32, {1, 1, 28, 28}}};

Status handle(wire::DataMessage::Reader header, Frames tensorFrames, const proto::TensorLimits& limits) {
  switch (header.which()) {
    case wire::DataMessage::ACTIVATIONS:
    case wire::DataMessage::RESULT: {
      wire::Activations::Reader body =
          header.which() == wire::DataMessage::RESULT ? header.getResult() : header.getActivations();
      CLEAVE_TRY(proto::readText(body.getOrigin(), proto::MAX_ORIGIN_NAME, "origin"));
      (void)proto::decodeTensorMessage(header, tensorFrames, limits, EXPECTED).ok();
      Result<proto::TensorMessage> untyped = proto::decodeTensorMessage(header, tensorFrames, limits);
      if (!untyped) return untyped.error();
      return {};
    }
    case wire::DataMessage::FAILURE: {
      Result<std::string> detail = proto::readText(header.getFailure().getDetail(), 1024, "detail");
      if (!detail) return detail.error();
      return {};
    }
    case wire::DataMessage::ACK:
      (void)header.getAck().getReceivedBytes();
      return {};
    case wire::DataMessage::PROBE:
      (void)header.getProbe().getSentAtMicros();
      return {};
    default:
      return Error{"unknown data message kind"};
  }
}

}  // namespace
}  // namespace cleave::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cleave;
  const proto::TensorLimits limits;
  std::vector<zmq::message_t> frames = fuzz::splitFrames(data, size, 1 + limits.maxTensors);
  // The whole-message decoder checks frame counts and sizes before it decodes the header.
  (void)proto::decodeTensorMessage(frames, limits).ok();

  Result<proto::DecodedMessage> decoded = proto::DecodedMessage::fromFrame(frames[0], limits.header);
  if (!decoded) return 0;
  Result<wire::DataMessage::Reader> root = decoded->root<wire::DataMessage>();
  if (!root) return 0;
  fuzz::Frames rest(frames.data() + 1, frames.size() - 1);
  Status handled = proto::decodeGuard("data message", [&]() -> Status { return fuzz::handle(*root, rest, limits); });
  (void)handled.ok();
  return 0;
}

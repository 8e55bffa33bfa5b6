// Tensors on the wire: a Cap'n Proto TensorHeader (dtype, shape, quantisation, channels sent)
// inside a data-plane header frame, and the raw bytes as their own ZeroMQ frame, so a large
// activation is never copied into a Cap'n Proto message (and, when whole, not copied at all on
// the sending side: the frame points into the tensor's storage).
//
// Decoding trusts nothing: the header is read under DATA_HEADER_LIMITS, and every dtype, rank,
// dimension, count and length is checked against the caller's limits (and, optionally, the types
// the receiving stage expects) before a byte of tensor storage is allocated. Bad input comes back
// as an Error; nothing here throws or asserts on a peer's bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "proto/common.capnp.h"
#include "proto/data.capnp.h"
#include "proto/message_codec.h"
#include "runtime/result.h"
#include "runtime/tensor.h"

namespace cleave::proto {

constexpr size_t MAX_TENSOR_RANK = 8;
constexpr size_t MAX_TENSOR_NAME = 256;
constexpr size_t MAX_ORIGIN_NAME = 64;

// real = scale * (q - zeroPoint), one pair for the whole tensor.
struct AffineQuantization {
  float scale = 1.0f;
  int32_t zeroPoint = 0;
  bool operator==(const AffineQuantization&) const = default;
};

// One tensor as it travels.
struct WireTensor {
  std::string name;  // value name in the receiving stage's graph
  // Encode: what to send. Decode: the full logical shape, channels not sent filled with zeros.
  Tensor tensor;
  std::optional<AffineQuantization> quantization;
  uint32_t channelAxis = 1;  // NCHW; for a scalar, 0
  // Encode: how many leading channels along channelAxis to send; 0 sends the whole tensor.
  // Decode: how many arrived (the full count when the whole tensor was sent).
  uint32_t channelsSent = 0;
};

// What a receiver accepts. Sized for the example models; the agent sets them from its memory.
struct TensorLimits {
  uint64_t maxTensorBytes = 64ull << 20;   // one tensor's full logical size (what decode allocates)
  uint64_t maxMessageBytes = 256ull << 20; // sum over the tensors of one message
  size_t maxTensors = 16;                  // tensors in one message
  DecodeLimits header = DATA_HEADER_LIMITS;
};

// Fills `header` from the tensor and returns its bytes frame. Refuses what a receiver would
// refuse (undefined dtype, rank > 8, a dimension <= 0, channelsSent beyond the channel count,
// quantisation on a float tensor, a scale that is not positive and finite, a name too long).
// The frame shares the tensor's storage when the bytes sent are contiguous (the whole tensor,
// or leading channels of a batch-1 tensor): the storage must not be written until ZeroMQ has
// sent the frame (Session outputs are fresh tensors, so this holds for stage outputs).
Result<zmq::message_t> encodeTensor(const WireTensor& tensor, wire::TensorHeader::Builder header);

// Checks one header and its bytes frame against the limits and, when given, the expected type
// (dtype and full shape), then copies the bytes into fresh aligned storage. Reads the header
// under decodeGuard, so a malformed reader gives an Error.
Result<WireTensor> decodeTensor(wire::TensorHeader::Reader header, std::span<const std::byte> bytes,
                                const TensorLimits& limits, const TensorType* expected = nullptr);

// A whole tensor-carrying data-plane message: `activations` (inputs of a stage) or `result`
// (outputs of the last stage, back to the request's origin).
enum class TensorMessageKind : uint8_t { Activations, Result };

struct TensorMessage {
  TensorMessageKind kind = TensorMessageKind::Activations;
  uint64_t requestId = 0;
  uint64_t epoch = 0;
  uint32_t stage = 0;
  std::string origin;  // agent that holds the request's input and receives its result
  uint64_t sentAtMicros = 0;
  std::vector<WireTensor> tensors;
  std::vector<std::string> zeroedInputs = {};  // results: inputs the producing stage ran with zeros for
};

// [DataMessage header frame, one bytes frame per tensor].
Result<std::vector<zmq::message_t>> encodeTensorMessage(const TensorMessage& message);

// The inverse, from every frame of one multipart message. With `expected` non-empty, the
// message must carry exactly those types in that order (a stage's inputs).
Result<TensorMessage> decodeTensorMessage(std::span<const zmq::message_t> frames, const TensorLimits& limits,
                                          std::span<const TensorType> expected = {});
// For a receiver that already decoded the header to switch on its kind: `tensorFrames` are the
// frames after the header.
Result<TensorMessage> decodeTensorMessage(wire::DataMessage::Reader header, std::span<const zmq::message_t> tensorFrames,
                                          const TensorLimits& limits, std::span<const TensorType> expected = {});

// The first checks on a tensor-carrying message, before any header is decoded: 1 to
// limits.maxTensors headers, one frame per header, and frames within limits.maxMessageBytes.
Status checkTensorFrames(size_t headers, std::span<const zmq::message_t> frames, const TensorLimits& limits);

// Wire <-> runtime dtype; nullopt for Undefined and for values this build does not know.
std::optional<wire::DType> toWireDType(DType dtype);
std::optional<DType> fromWireDType(wire::DType dtype);

}  // namespace cleave::proto

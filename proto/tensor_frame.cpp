#include "proto/tensor_frame.h"

#include <capnp/message.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include <fmt/format.h>

#include "runtime/sanitizer_handover.h"

namespace cleave::proto {

// The wire values are the protocol; pin them so an edit to common.capnp that renumbers an
// enumerant fails to compile instead of silently changing what peers read.
static_assert(static_cast<uint16_t>(wire::DType::UNDEFINED) == 0);
static_assert(static_cast<uint16_t>(wire::DType::FLOAT32) == 1);
static_assert(static_cast<uint16_t>(wire::DType::FLOAT16) == 2);
static_assert(static_cast<uint16_t>(wire::DType::INT8) == 3);
static_assert(static_cast<uint16_t>(wire::DType::UINT8) == 4);
static_assert(static_cast<uint16_t>(wire::DType::INT32) == 5);
static_assert(static_cast<uint16_t>(wire::DType::INT64) == 6);
static_assert(static_cast<uint16_t>(wire::DType::BOOL) == 7);
static_assert(wire::PROTOCOL_VERSION == 3, "a version bump needs a note in docs/protocol.md");

std::optional<wire::DType> toWireDType(DType dtype) {
  switch (dtype) {
    case DType::F32: return wire::DType::FLOAT32;
    case DType::F16: return wire::DType::FLOAT16;
    case DType::I8: return wire::DType::INT8;
    case DType::U8: return wire::DType::UINT8;
    case DType::I32: return wire::DType::INT32;
    case DType::I64: return wire::DType::INT64;
    case DType::Bool: return wire::DType::BOOL;
    case DType::Undefined: break;
  }
  return std::nullopt;
}

std::optional<DType> fromWireDType(wire::DType dtype) {
  // A peer can send any 16-bit value here, including ones no enumerant names.
  switch (dtype) {
    case wire::DType::FLOAT32: return DType::F32;
    case wire::DType::FLOAT16: return DType::F16;
    case wire::DType::INT8: return DType::I8;
    case wire::DType::UINT8: return DType::U8;
    case wire::DType::INT32: return DType::I32;
    case wire::DType::INT64: return DType::I64;
    case wire::DType::BOOL: return DType::Bool;
    default: break;
  }
  return std::nullopt;
}

namespace {

// Everything about one tensor a receiver needs to know before it allocates: the result of
// checking a header (or, when sending, a tensor) against the rules and limits.
struct TensorLayout {
  std::string name;
  DType dtype = DType::Undefined;
  Shape shape;
  std::optional<AffineQuantization> quantization;
  uint32_t channelAxis = 0;
  uint32_t channelsSent = 0;
  uint64_t channels = 1;    // full count along channelAxis
  uint64_t outer = 1;       // elements before channelAxis (product of the dims before it)
  uint64_t innerBytes = 0;  // bytes of one channel's block after it (dims after it x dtype size)
  uint64_t fullBytes = 0;   // bytes of the whole logical tensor
  uint64_t sentBytes = 0;   // bytes in the frame

  bool contiguous() const { return channelsSent == channels || outer == 1; }
};

std::string label(const std::string& name) { return fmt::format("tensor '{}'", name); }

Status checkQuantization(const std::optional<AffineQuantization>& q, DType dtype, const std::string& name) {
  if (!q) return {};
  if (dtype != DType::I8 && dtype != DType::U8 && dtype != DType::I32)
    return Error{fmt::format("{}: quantisation parameters on a {} tensor", label(name), dtypeName(dtype))};
  if (!std::isfinite(q->scale) || q->scale <= 0.0f)
    return Error{fmt::format("{}: quantisation scale {} is not positive and finite", label(name), q->scale)};
  int64_t low = dtype == DType::I8 ? -128 : dtype == DType::U8 ? 0 : std::numeric_limits<int32_t>::min();
  int64_t high = dtype == DType::I8 ? 127 : dtype == DType::U8 ? 255 : std::numeric_limits<int32_t>::max();
  if (q->zeroPoint < low || q->zeroPoint > high)
    return Error{fmt::format("{}: zero point {} is outside {}'s range", label(name), q->zeroPoint, dtypeName(dtype))};
  return {};
}

// The shared rules, given plain values (from a header or from a tensor to send). `maxBytes`
// caps the full logical size; products are checked before they can overflow.
Result<TensorLayout> layoutOf(std::string name, DType dtype, Shape shape, std::optional<AffineQuantization> q,
                              uint32_t channelAxis, uint32_t channelsSent, uint64_t maxBytes) {
  TensorLayout layout;
  layout.name = std::move(name);
  if (layout.name.size() > MAX_TENSOR_NAME)
    return Error{fmt::format("tensor name of {} bytes exceeds the limit of {}", layout.name.size(), MAX_TENSOR_NAME)};
  const std::string what = label(layout.name);
  if (dtype == DType::Undefined) return Error{fmt::format("{}: undefined dtype", what)};
  if (shape.size() > MAX_TENSOR_RANK)
    return Error{fmt::format("{}: rank {} exceeds the limit of {}", what, shape.size(), MAX_TENSOR_RANK)};
  const uint64_t elementBytes = dtypeSize(dtype);
  uint64_t bytes = elementBytes;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] <= 0) return Error{fmt::format("{}: dimension {} is {}, must be positive", what, i, shape[i])};
    uint64_t dim = static_cast<uint64_t>(shape[i]);
    if (dim > maxBytes / bytes)  // bytes * dim > maxBytes, without overflowing
      return Error{fmt::format("{}: {}{} exceeds the limit of {} bytes", what, dtypeName(dtype), shapeString(shape), maxBytes)};
    bytes *= dim;
  }
  layout.fullBytes = bytes;
  if (shape.empty()) {
    if (channelAxis != 0 || channelsSent != 1)
      return Error{fmt::format("{}: a scalar has one channel on axis 0, header says {} on axis {}", what, channelsSent,
                               channelAxis)};
  } else {
    if (channelAxis >= shape.size())
      return Error{fmt::format("{}: channel axis {} is not below rank {}", what, channelAxis, shape.size())};
    layout.channels = static_cast<uint64_t>(shape[channelAxis]);
    if (channelsSent == 0 || channelsSent > layout.channels)
      return Error{fmt::format("{}: {} channels sent of {}", what, channelsSent, layout.channels)};
    for (size_t i = 0; i < channelAxis; ++i) layout.outer *= static_cast<uint64_t>(shape[i]);
  }
  layout.innerBytes = layout.fullBytes / layout.outer / layout.channels;
  layout.sentBytes = layout.outer * channelsSent * layout.innerBytes;
  CLEAVE_TRY(checkQuantization(q, dtype, layout.name));
  layout.dtype = dtype;
  layout.shape = std::move(shape);
  layout.quantization = q;
  layout.channelAxis = channelAxis;
  layout.channelsSent = channelsSent;
  return layout;
}

// Reads and checks one header; `frameBytes` is the length of its frame.
Result<TensorLayout> readLayout(wire::TensorHeader::Reader header, size_t frameBytes, const TensorLimits& limits,
                                const TensorType* expected) {
  Result<std::string> name = readText(header.getName(), MAX_TENSOR_NAME, "tensor name");
  if (!name) return name.error();
  std::optional<DType> dtype = fromWireDType(header.getDtype());
  if (!dtype)
    return Error{fmt::format("{}: unknown dtype {}", label(*name), static_cast<uint16_t>(header.getDtype()))};
  capnp::List<int64_t>::Reader dims = header.getShape();
  if (dims.size() > MAX_TENSOR_RANK)  // before copying the dimensions anywhere
    return Error{fmt::format("{}: rank {} exceeds the limit of {}", label(*name), dims.size(), MAX_TENSOR_RANK)};
  Shape shape;
  shape.reserve(dims.size());
  for (int64_t dim : dims) shape.push_back(dim);
  std::optional<AffineQuantization> q;
  wire::Quantization::Reader quant = header.getQuantization();
  switch (quant.which()) {
    case wire::Quantization::NONE: break;
    case wire::Quantization::AFFINE:
      q = AffineQuantization{quant.getAffine().getScale(), quant.getAffine().getZeroPoint()};
      break;
    default:
      return Error{fmt::format("{}: unknown quantisation kind {}", label(*name), static_cast<uint16_t>(quant.which()))};
  }
  Result<TensorLayout> layout = layoutOf(std::move(*name), *dtype, std::move(shape), q, header.getChannelAxis(),
                                         header.getChannelsSent(), limits.maxTensorBytes);
  if (!layout) return layout;
  const std::string what = label(layout->name);
  if (header.getByteLength() != layout->sentBytes)
    return Error{fmt::format("{}: header says {} bytes, its type and channels make {}", what, header.getByteLength(),
                             layout->sentBytes)};
  if (frameBytes != layout->sentBytes)
    return Error{fmt::format("{}: frame holds {} bytes, expected {}", what, frameBytes, layout->sentBytes)};
  if (expected != nullptr && (expected->dtype != layout->dtype || expected->shape != layout->shape))
    return Error{fmt::format("{}: expected {}, received {}", what, expected->toString(),
                             TensorType{layout->dtype, layout->shape}.toString())};
  return layout;
}

// Copies a checked frame into fresh storage of the full shape (missing channels stay zero).
Result<WireTensor> materialize(TensorLayout&& layout, std::span<const std::byte> bytes) {
  if (layout.dtype == DType::Bool) {
    // Kernels read these as C++ bool, for which any byte but 0 and 1 is undefined behaviour.
    for (size_t i = 0; i < bytes.size(); ++i)
      if (bytes[i] != std::byte{0} && bytes[i] != std::byte{1})
        return Error{fmt::format("{}: byte {} of a bool tensor is {}", label(layout.name), i, static_cast<int>(bytes[i]))};
  }
  WireTensor out;
  // Every byte is copied in when all channels came; missing channels must read as zero.
  out.tensor = layout.channelsSent == layout.channels ? Tensor::uninitialized(layout.dtype, layout.shape)
                                   : Tensor::zeros(layout.dtype, layout.shape);
  const uint64_t sentBlock = layout.channelsSent * layout.innerBytes;
  const uint64_t fullBlock = layout.channels * layout.innerBytes;
  if (layout.contiguous()) {
    std::memcpy(out.tensor.raw(), bytes.data(), bytes.size());
  } else {
    for (uint64_t o = 0; o < layout.outer; ++o)
      std::memcpy(out.tensor.raw() + o * fullBlock, bytes.data() + o * sentBlock, sentBlock);
  }
  out.name = std::move(layout.name);
  out.quantization = layout.quantization;
  out.channelAxis = layout.channelAxis;
  out.channelsSent = layout.channelsSent;
  return out;
}

void freeSharedTensor(void* /*data*/, void* hint) {
  // Runs on a ZeroMQ I/O thread once the frame is sent; dropping a shared_ptr reference is
  // thread-safe.
  takeOver(hint);
  std::unique_ptr<Tensor> keeper(static_cast<Tensor*>(hint));
}

}  // namespace

Result<zmq::message_t> encodeTensor(const WireTensor& wt, wire::TensorHeader::Builder header) {
  const Tensor& t = wt.tensor;
  if (t.raw() == nullptr) return Error{fmt::format("{}: no data to send", label(wt.name))};
  uint32_t axis = 0;
  uint32_t sent = 1;
  if (t.rank() > 0) {
    if (wt.channelAxis < t.rank()) {
      axis = wt.channelAxis;
    } else if (wt.channelsSent != 0) {
      return Error{fmt::format("{}: channel axis {} is not below rank {}", label(wt.name), wt.channelAxis, t.rank())};
    }
    int64_t channels = t.dim(axis);
    if (channels <= 0 || channels > std::numeric_limits<uint32_t>::max())
      return Error{fmt::format("{}: {} channels cannot be described on the wire", label(wt.name), channels)};
    sent = wt.channelsSent == 0 ? static_cast<uint32_t>(channels) : wt.channelsSent;
  } else if (wt.channelsSent > 1) {
    return Error{fmt::format("{}: a scalar has one channel, {} requested", label(wt.name), wt.channelsSent)};
  }
  Result<TensorLayout> layout =
      layoutOf(wt.name, t.dtype(), t.shape(), wt.quantization, axis, sent, std::numeric_limits<uint64_t>::max());
  if (!layout) return layout.error();

  header.setName(capnp::Text::Reader(wt.name.data(), wt.name.size()));
  header.setDtype(*toWireDType(layout->dtype));
  capnp::List<int64_t>::Builder dims = header.initShape(static_cast<unsigned>(layout->shape.size()));
  for (size_t i = 0; i < layout->shape.size(); ++i) dims.set(static_cast<unsigned>(i), layout->shape[i]);
  if (layout->quantization) {
    auto affine = header.getQuantization().initAffine();
    affine.setScale(layout->quantization->scale);
    affine.setZeroPoint(layout->quantization->zeroPoint);
  } else {
    header.getQuantization().setNone();
  }
  header.setChannelAxis(static_cast<uint8_t>(layout->channelAxis));
  header.setChannelsSent(layout->channelsSent);
  header.setByteLength(layout->sentBytes);

  if (layout->contiguous()) {
    // Zero copy: the frame points into the tensor's storage and a heap copy of the Tensor (a
    // shared reference) keeps it alive until ZeroMQ is done with it.
    auto keeper = std::make_unique<Tensor>(t);
    // ZeroMQ's API takes void* but only reads a frame it is given.
    void* data = const_cast<std::byte*>(t.raw());
    handOver(keeper.get());  // freed on ZeroMQ's I/O thread
    zmq::message_t frame(data, layout->sentBytes, &freeSharedTensor, keeper.get());
    keeper.release();  // now owned by the frame
    return frame;
  }
  // Leading channels of each batch item: gather them into one frame.
  zmq::message_t frame(layout->sentBytes);
  const uint64_t sentBlock = layout->channelsSent * layout->innerBytes;
  const uint64_t fullBlock = layout->channels * layout->innerBytes;
  auto* out = static_cast<std::byte*>(frame.data());
  for (uint64_t o = 0; o < layout->outer; ++o) std::memcpy(out + o * sentBlock, t.raw() + o * fullBlock, sentBlock);
  return frame;
}

Result<WireTensor> decodeTensor(wire::TensorHeader::Reader header, std::span<const std::byte> bytes,
                                const TensorLimits& limits, const TensorType* expected) {
  Result<TensorLayout> layout =
      decodeGuard("tensor header", [&] { return readLayout(header, bytes.size(), limits, expected); });
  if (!layout) return layout.error();
  return materialize(std::move(*layout), bytes);
}

Status checkTensorFrames(size_t headers, std::span<const zmq::message_t> frames, const TensorLimits& limits) {
  if (headers == 0 || headers > limits.maxTensors)
    return Error{fmt::format("{} input tensors (1 to {} allowed)", headers, limits.maxTensors)};
  if (headers != frames.size()) return Error{fmt::format("{} tensor headers but {} frames", headers, frames.size())};
  uint64_t frameBytes = 0;
  for (const zmq::message_t& frame : frames) frameBytes += frame.size();
  if (frameBytes > limits.maxMessageBytes)
    return Error{fmt::format("inputs of {} bytes exceed the limit of {}", frameBytes, limits.maxMessageBytes)};
  return {};
}

Result<std::vector<zmq::message_t>> encodeTensorMessage(const TensorMessage& message) {
  if (message.origin.size() > MAX_ORIGIN_NAME)
    return Error{fmt::format("origin name of {} bytes exceeds the limit of {}", message.origin.size(), MAX_ORIGIN_NAME)};
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<wire::DataMessage>();
  root.setVersion(wire::PROTOCOL_VERSION);
  root.setRequestId(message.requestId);
  root.setEpoch(message.epoch);
  auto body = message.kind == TensorMessageKind::Activations ? root.initActivations() : root.initResult();
  body.setStage(message.stage);
  body.setOrigin(capnp::Text::Reader(message.origin.data(), message.origin.size()));
  body.setSentAtMicros(message.sentAtMicros);
  if (!message.zeroedInputs.empty()) {
    auto zeroed = body.initZeroedInputs(static_cast<unsigned>(message.zeroedInputs.size()));
    for (unsigned i = 0; i < zeroed.size(); ++i)
      zeroed.set(i, capnp::Text::Reader(message.zeroedInputs[i].data(), message.zeroedInputs[i].size()));
  }
  auto headers = body.initTensors(static_cast<unsigned>(message.tensors.size()));
  std::vector<zmq::message_t> frames;
  frames.reserve(message.tensors.size() + 1);
  frames.emplace_back();  // the header, once every tensor is described
  for (size_t i = 0; i < message.tensors.size(); ++i) {
    Result<zmq::message_t> frame = encodeTensor(message.tensors[i], headers[static_cast<unsigned>(i)]);
    if (!frame) return frame.error();
    frames.push_back(std::move(*frame));
  }
  frames[0] = encodeMessage(builder);
  return frames;
}

Result<TensorMessage> decodeTensorMessage(wire::DataMessage::Reader header, std::span<const zmq::message_t> tensorFrames,
                                          const TensorLimits& limits, std::span<const TensorType> expected) {
  TensorMessage message;
  std::vector<TensorLayout> layouts;
  Status checked = decodeGuard("data message", [&]() -> Status {
    if (header.getVersion() != wire::PROTOCOL_VERSION)
      return Error{fmt::format("protocol version {}, this build speaks {}", header.getVersion(), wire::PROTOCOL_VERSION)};
    wire::Activations::Reader body;
    switch (header.which()) {
      case wire::DataMessage::ACTIVATIONS:
        message.kind = TensorMessageKind::Activations;
        body = header.getActivations();
        break;
      case wire::DataMessage::RESULT:
        message.kind = TensorMessageKind::Result;
        body = header.getResult();
        break;
      default:
        return Error{fmt::format("data message kind {} carries no tensors", static_cast<uint16_t>(header.which()))};
    }
    message.requestId = header.getRequestId();
    message.epoch = header.getEpoch();
    message.stage = body.getStage();
    message.sentAtMicros = body.getSentAtMicros();
    Result<std::string> origin = readText(body.getOrigin(), MAX_ORIGIN_NAME, "origin");
    if (!origin) return origin.error();
    message.origin = std::move(*origin);
    auto zeroed = body.getZeroedInputs();
    if (zeroed.size() > limits.maxTensors)
      return Error{fmt::format("{} zeroed inputs exceed the limit of {}", zeroed.size(), limits.maxTensors)};
    for (auto name : zeroed) {
      Result<std::string> text = readText(name, MAX_TENSOR_NAME, "zeroed input");
      if (!text) return text.error();
      message.zeroedInputs.push_back(std::move(*text));
    }
    auto headers = body.getTensors();
    if (headers.size() > limits.maxTensors)
      return Error{fmt::format("{} tensors exceed the limit of {}", headers.size(), limits.maxTensors)};
    if (headers.size() != tensorFrames.size())
      return Error{fmt::format("{} tensor headers but {} tensor frames", headers.size(), tensorFrames.size())};
    if (!expected.empty() && headers.size() != expected.size())
      return Error{fmt::format("{} tensors, the stage expects {}", headers.size(), expected.size())};
    // Check every tensor, and their sum, before allocating any of them.
    uint64_t total = 0;
    for (unsigned i = 0; i < headers.size(); ++i) {
      Result<TensorLayout> layout =
          readLayout(headers[i], tensorFrames[i].size(), limits, expected.empty() ? nullptr : &expected[i]);
      if (!layout) return layout.error();
      for (const TensorLayout& other : layouts)
        if (other.name == layout->name) return Error{fmt::format("{} appears twice", label(layout->name))};
      if (layout->fullBytes > limits.maxMessageBytes - total)  // total + fullBytes > max, without overflow
        return Error{fmt::format("tensors of more than {} bytes in one message", limits.maxMessageBytes)};
      total += layout->fullBytes;
      layouts.push_back(std::move(*layout));
    }
    return {};
  });
  if (!checked) return checked.error();
  for (size_t i = 0; i < layouts.size(); ++i) {
    Result<WireTensor> tensor = materialize(
        std::move(layouts[i]), {static_cast<const std::byte*>(tensorFrames[i].data()), tensorFrames[i].size()});
    if (!tensor) return tensor.error();
    message.tensors.push_back(std::move(*tensor));
  }
  return message;
}

Result<TensorMessage> decodeTensorMessage(std::span<const zmq::message_t> frames, const TensorLimits& limits,
                                          std::span<const TensorType> expected) {
  if (frames.empty()) return Error{"data message has no frames"};
  Result<DecodedMessage> decoded = DecodedMessage::fromFrame(frames[0], limits.header);
  if (!decoded) return Error{"data message header: " + decoded.error().message};
  Result<wire::DataMessage::Reader> root = decoded->root<wire::DataMessage>();
  if (!root) return Error{"data message header: " + root.error().message};
  return decodeTensorMessage(*root, frames.subspan(1), limits, expected);
}

}  // namespace cleave::proto

#include "proto/tensor_frame.h"

#include <capnp/message.h>
#include <doctest/doctest.h>

#include <cstring>
#include <functional>
#include <random>

#include <fmt/format.h>

namespace cleave::proto {
namespace {

const DType ALL_DTYPES[] = {DType::F32, DType::F16, DType::I8, DType::U8, DType::I32, DType::I64, DType::Bool};

// Random contents with real spread: every byte drawn independently (bools 0 or 1), so a
// decoder that dropped, reordered or zeroed bytes would be caught.
Tensor randomTensor(DType dtype, Shape shape, std::mt19937& rng) {
  Tensor t = Tensor::zeros(dtype, std::move(shape));
  std::uniform_int_distribution<int> byte(0, 255);
  for (size_t i = 0; i < t.bytes(); ++i)
    t.raw()[i] = std::byte(static_cast<uint8_t>(dtype == DType::Bool ? byte(rng) & 1 : byte(rng)));
  return t;
}

Shape randomShape(std::mt19937& rng, size_t maxRank = 4) {
  std::uniform_int_distribution<size_t> rank(0, maxRank);
  std::uniform_int_distribution<int64_t> dim(1, 5);
  Shape shape(rank(rng));
  for (int64_t& d : shape) d = dim(rng);
  return shape;
}

std::vector<uint8_t> bytesOf(const zmq::message_t& frame) {
  auto* p = static_cast<const uint8_t*>(frame.data());
  return {p, p + frame.size()};
}

zmq::message_t frameOf(const std::vector<uint8_t>& bytes) { return zmq::message_t(bytes.data(), bytes.size()); }

std::vector<zmq::message_t> copyFrames(const std::vector<std::vector<uint8_t>>& frames) {
  std::vector<zmq::message_t> out;
  for (const auto& f : frames) out.push_back(frameOf(f));
  return out;
}

std::vector<std::vector<uint8_t>> bytesOf(const std::vector<zmq::message_t>& frames) {
  std::vector<std::vector<uint8_t>> out;
  for (const auto& f : frames) out.push_back(bytesOf(f));
  return out;
}

TensorMessage sampleMessage() {
  std::mt19937 rng(7);
  TensorMessage m;
  m.kind = TensorMessageKind::Activations;
  m.requestId = 0x1122334455667788ull;
  m.epoch = 3;
  m.stage = 2;
  m.origin = "pi-1";
  m.sentAtMicros = 123456789;
  m.tensors.push_back({"conv1_out", randomTensor(DType::F32, {1, 8, 4, 4}, rng), std::nullopt, 1, 0});
  m.tensors.push_back({"skip", randomTensor(DType::I8, {1, 4, 4, 4}, rng), AffineQuantization{0.05f, -3}, 1, 0});
  return m;
}

TEST_CASE("every dtype round-trips bit for bit, with the bytes frame sharing the tensor's storage") {
  std::mt19937 rng(20240501);
  for (DType dtype : ALL_DTYPES) {
    for (int trial = 0; trial < 20; ++trial) {
      CAPTURE(dtypeName(dtype));
      TensorMessage m;
      m.kind = trial % 2 == 0 ? TensorMessageKind::Activations : TensorMessageKind::Result;
      m.requestId = rng();
      m.epoch = rng();
      m.stage = static_cast<uint32_t>(rng() % 64);
      m.origin = fmt::format("agent-{}", trial);
      m.sentAtMicros = rng();
      const size_t count = 1 + rng() % 3;
      for (size_t i = 0; i < count; ++i) {
        WireTensor t{fmt::format("t{}", i), randomTensor(dtype, randomShape(rng), rng), std::nullopt, 1, 0};
        if ((dtype == DType::I8 || dtype == DType::U8) && i == 0) t.quantization = AffineQuantization{0.25f, 7};
        m.tensors.push_back(std::move(t));
      }
      Result<std::vector<zmq::message_t>> frames = encodeTensorMessage(m);
      REQUIRE(frames.ok());
      REQUIRE(frames->size() == count + 1);
      for (size_t i = 0; i < count; ++i) {
        CHECK(frames->at(i + 1).size() == m.tensors[i].tensor.bytes());
        CHECK(frames->at(i + 1).data() == static_cast<const void*>(m.tensors[i].tensor.raw()));  // zero copy
      }
      Result<TensorMessage> back = decodeTensorMessage(*frames, TensorLimits{});
      REQUIRE(back.ok());
      CHECK(back->kind == m.kind);
      CHECK(back->requestId == m.requestId);
      CHECK(back->epoch == m.epoch);
      CHECK(back->stage == m.stage);
      CHECK(back->origin == m.origin);
      CHECK(back->sentAtMicros == m.sentAtMicros);
      REQUIRE(back->tensors.size() == count);
      for (size_t i = 0; i < count; ++i) {
        const WireTensor& got = back->tensors[i];
        CHECK(got.name == m.tensors[i].name);
        CHECK(got.tensor.identical(m.tensors[i].tensor));
        CHECK(got.quantization == m.tensors[i].quantization);
        const Shape& shape = m.tensors[i].tensor.shape();
        CHECK(got.channelsSent == (shape.size() > 1 ? shape[1] : shape.empty() ? 1 : shape[0]));
        CHECK(reinterpret_cast<uintptr_t>(got.tensor.raw()) % TENSOR_ALIGNMENT == 0);
      }
    }
  }
}

TEST_CASE("the tensor outlives the caller's copy until the frame is released") {
  std::mt19937 rng(1);
  zmq::message_t frame;
  std::vector<uint8_t> original;
  {
    Tensor t = randomTensor(DType::F32, {1, 16}, rng);
    original.assign(reinterpret_cast<const uint8_t*>(t.raw()), reinterpret_cast<const uint8_t*>(t.raw()) + t.bytes());
    capnp::MallocMessageBuilder builder;
    Result<zmq::message_t> encoded = encodeTensor({"x", t, std::nullopt, 1, 0}, builder.initRoot<wire::TensorHeader>());
    REQUIRE(encoded.ok());
    frame = std::move(*encoded);
  }
  CHECK(bytesOf(frame) == original);  // still readable (ASan would flag a use after free)
}

// Independent reference for partial channels: walk every element by its coordinates.
Tensor expectedLeadingChannels(const Tensor& t, size_t axis, int64_t kept) {
  Tensor out = Tensor::zeros(t.dtype(), t.shape());
  const Shape& shape = t.shape();
  std::vector<int64_t> index(shape.size(), 0);
  const size_t element = dtypeSize(t.dtype());
  for (int64_t flat = 0; flat < t.numel(); ++flat) {
    if (index[axis] < kept) std::memcpy(out.raw() + flat * element, t.raw() + flat * element, element);
    for (size_t d = shape.size(); d-- > 0;) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

TEST_CASE("sending the leading channels: the receiver gets them and zeros for the rest") {
  std::mt19937 rng(99);
  struct Case {
    Shape shape;
    uint32_t axis;
    uint32_t sent;
  };
  const Case cases[] = {{{2, 6, 3, 4}, 1, 4}, {{1, 6, 2, 2}, 1, 1}, {{3, 5}, 0, 2}, {{2, 3, 7}, 2, 5}, {{4, 2, 2}, 1, 2}};
  for (const Case& c : cases) {
    CAPTURE(shapeString(c.shape));
    CAPTURE(c.axis);
    Tensor t = randomTensor(DType::F32, c.shape, rng);
    TensorMessage m;
    m.tensors.push_back({"head_out", t, std::nullopt, c.axis, c.sent});
    Result<std::vector<zmq::message_t>> frames = encodeTensorMessage(m);
    REQUIRE(frames.ok());
    const int64_t sentElements = t.numel() / c.shape[c.axis] * c.sent;
    CHECK(frames->at(1).size() == static_cast<size_t>(sentElements) * 4);
    int64_t outer = 1;
    for (size_t i = 0; i < c.axis; ++i) outer *= c.shape[i];
    // All channels, or a prefix of a batch-1 tensor, are contiguous and sent without a copy.
    CHECK((frames->at(1).data() == static_cast<const void*>(t.raw())) == (outer == 1 || c.sent == c.shape[c.axis]));
    Result<TensorMessage> back = decodeTensorMessage(*frames, TensorLimits{});
    REQUIRE(back.ok());
    CHECK(back->tensors[0].channelsSent == c.sent);
    CHECK(back->tensors[0].channelAxis == c.axis);
    CHECK(back->tensors[0].tensor.identical(expectedLeadingChannels(t, c.axis, c.sent)));
  }
}

TEST_CASE("a result names the inputs it was computed without; too many names are refused") {
  TensorMessage m;
  m.kind = TensorMessageKind::Result;
  m.origin = "pi1";
  m.tensors.push_back({"logits", Tensor::zeros(TensorType{DType::F32, {1, 10}}), std::nullopt, 1, 10});
  m.zeroedInputs = {"features_2", "features_0"};
  Result<std::vector<zmq::message_t>> frames = encodeTensorMessage(m);
  REQUIRE(frames.ok());
  Result<TensorMessage> back = decodeTensorMessage(*frames, TensorLimits{});
  REQUIRE_MESSAGE(back.ok(), back.error().message);
  CHECK(back->zeroedInputs == m.zeroedInputs);
  m.zeroedInputs.assign(17, "features_x");
  frames = encodeTensorMessage(m);
  REQUIRE(frames.ok());
  Result<TensorMessage> refused = decodeTensorMessage(*frames, TensorLimits{});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("17 zeroed inputs exceed the limit of 16") != std::string::npos);
}

TEST_CASE("expected types are enforced") {
  TensorMessage m = sampleMessage();
  std::vector<zmq::message_t> frames = encodeTensorMessage(m).value();
  const TensorType right[] = {{DType::F32, {1, 8, 4, 4}}, {DType::I8, {1, 4, 4, 4}}};
  CHECK(decodeTensorMessage(frames, TensorLimits{}, right).ok());
  const TensorType wrongDtype[] = {{DType::F16, {1, 8, 4, 4}}, {DType::I8, {1, 4, 4, 4}}};
  CHECK(decodeTensorMessage(frames, TensorLimits{}, wrongDtype).error().message ==
        "tensor 'conv1_out': expected float16[1,8,4,4], received float32[1,8,4,4]");
  const TensorType wrongShape[] = {{DType::F32, {1, 8, 4, 4}}, {DType::I8, {1, 4, 2, 8}}};
  CHECK(decodeTensorMessage(frames, TensorLimits{}, wrongShape).error().message ==
        "tensor 'skip': expected int8[1,4,2,8], received int8[1,4,4,4]");
  const TensorType tooFew[] = {{DType::F32, {1, 8, 4, 4}}};
  CHECK(decodeTensorMessage(frames, TensorLimits{}, tooFew).error().message == "2 tensors, the stage expects 1");
}

TEST_CASE("encodeTensor refuses what a receiver would refuse") {
  capnp::MallocMessageBuilder builder;
  auto header = builder.initRoot<wire::TensorHeader>();
  std::mt19937 rng(3);
  Tensor f = randomTensor(DType::F32, {1, 4, 2}, rng);
  CHECK(encodeTensor({"u", Tensor(), std::nullopt, 1, 0}, header).error().message == "tensor 'u': no data to send");
  CHECK(encodeTensor({"c", f, std::nullopt, 1, 5}, header).error().message == "tensor 'c': 5 channels sent of 4");
  CHECK(encodeTensor({"a", f, std::nullopt, 3, 2}, header).error().message == "tensor 'a': channel axis 3 is not below rank 3");
  CHECK(encodeTensor({"q", f, AffineQuantization{1.0f, 0}, 1, 0}, header).error().message ==
        "tensor 'q': quantisation parameters on a float32 tensor");
  Tensor i8 = randomTensor(DType::I8, {2}, rng);
  CHECK(encodeTensor({"s", i8, AffineQuantization{0.0f, 0}, 1, 0}, header).error().message ==
        "tensor 's': quantisation scale 0 is not positive and finite");
  CHECK(encodeTensor({"z", i8, AffineQuantization{1.0f, 200}, 1, 0}, header).error().message ==
        "tensor 'z': zero point 200 is outside int8's range");
  CHECK_FALSE(encodeTensor({std::string(MAX_TENSOR_NAME + 1, 'n'), f, std::nullopt, 1, 0}, header).ok());
  Tensor empty = Tensor::zeros(DType::F32, {1, 0, 3});
  CHECK(encodeTensor({"e", empty, std::nullopt, 1, 0}, header).error().message == "tensor 'e': 0 channels cannot be described on the wire");
  // A rank-1 tensor with the default channel axis 1 is sent whole (axis 0 on the wire).
  Tensor v = randomTensor(DType::F32, {3}, rng);
  REQUIRE(encodeTensor({"v", v, std::nullopt, 1, 0}, header).ok());
  CHECK(header.getChannelAxis() == 0);
  CHECK(header.getChannelsSent() == 3);
}

// Builds the sample message, lets `mutate` change the header, and returns the frames.
std::vector<zmq::message_t> craft(const std::function<void(wire::DataMessage::Builder)>& mutate) {
  std::vector<zmq::message_t> frames = encodeTensorMessage(sampleMessage()).value();
  Result<DecodedMessage> decoded = DecodedMessage::fromFrame(frames[0], DATA_HEADER_LIMITS);
  REQUIRE(decoded.ok());
  capnp::MallocMessageBuilder builder;
  builder.setRoot(*decoded->root<wire::DataMessage>());
  mutate(builder.getRoot<wire::DataMessage>());
  frames[0] = encodeMessage(builder);
  return frames;
}

std::string decodeError(const std::vector<zmq::message_t>& frames, const TensorLimits& limits = {}) {
  Result<TensorMessage> result = decodeTensorMessage(frames, limits);
  return result.ok() ? std::string("(accepted)") : result.error().message;
}

TEST_CASE("each rule of a tensor header is checked, with an error that says which") {
  using Builder = wire::DataMessage::Builder;
  auto tensor0 = [](Builder m) { return m.getActivations().getTensors()[0]; };
  CHECK(decodeError(craft([](Builder) {})) == "(accepted)");
  CHECK(decodeError(craft([](Builder m) { m.setVersion(2); })) == "protocol version 2, this build speaks 3");
  CHECK(decodeError(craft([](Builder m) { m.initAck(); })) == "data message kind 2 carries no tensors");
  CHECK(decodeError(craft([&](Builder m) { tensor0(m).setDtype(static_cast<wire::DType>(42)); })) ==
        "tensor 'conv1_out': unknown dtype 42");
  CHECK(decodeError(craft([&](Builder m) { tensor0(m).setDtype(wire::DType::UNDEFINED); })) ==
        "tensor 'conv1_out': unknown dtype 0");
  CHECK(decodeError(craft([&](Builder m) { tensor0(m).initShape(9); })) == "tensor 'conv1_out': rank 9 exceeds the limit of 8");
  CHECK(decodeError(craft([&](Builder m) { tensor0(m).getShape().set(2, 0); })) ==
        "tensor 'conv1_out': dimension 2 is 0, must be positive");
  CHECK(decodeError(craft([&](Builder m) { tensor0(m).getShape().set(0, -1); })) ==
        "tensor 'conv1_out': dimension 0 is -1, must be positive");
  CHECK(decodeError(craft([&](Builder m) {
          auto shape = tensor0(m).getShape();
          shape.set(2, int64_t{1} << 40);
          shape.set(3, int64_t{1} << 40);
        })) == "tensor 'conv1_out': float32[1,8,1099511627776,1099511627776] exceeds the limit of 67108864 bytes");
  CHECK(decodeError(craft([&](Builder m) { tensor0(m).getShape().set(0, 1 << 20); })) ==
        "tensor 'conv1_out': float32[1048576,8,4,4] exceeds the limit of 67108864 bytes");
  CHECK(decodeError(craft([&](Builder m) { tensor0(m).setByteLength(4); })) ==
        "tensor 'conv1_out': header says 4 bytes, its type and channels make 512");
  CHECK(decodeError(craft([&](Builder m) { tensor0(m).setChannelsSent(0); })) == "tensor 'conv1_out': 0 channels sent of 8");
  CHECK(decodeError(craft([&](Builder m) { tensor0(m).setChannelsSent(9); })) == "tensor 'conv1_out': 9 channels sent of 8");
  CHECK(decodeError(craft([&](Builder m) { tensor0(m).setChannelAxis(4); })) ==
        "tensor 'conv1_out': channel axis 4 is not below rank 4");
  CHECK(decodeError(craft([&](Builder m) { tensor0(m).getShape().set(2, 2); })) ==
        "tensor 'conv1_out': header says 512 bytes, its type and channels make 256");
  CHECK(decodeError(craft([&](Builder m) { tensor0(m).getShape().set(1, 4); })) == "tensor 'conv1_out': 8 channels sent of 4");
  CHECK(decodeError(craft([&](Builder m) {
          tensor0(m).initShape(0);
          tensor0(m).setChannelAxis(1);
        })) == "tensor 'conv1_out': a scalar has one channel on axis 0, header says 8 on axis 1");
  CHECK(decodeError(craft([&](Builder m) { tensor0(m).getQuantization().initAffine().setScale(1.0f); })) ==
        "tensor 'conv1_out': quantisation parameters on a float32 tensor");
  auto tensor1 = [](Builder m) { return m.getActivations().getTensors()[1]; };
  CHECK(decodeError(craft([&](Builder m) { tensor1(m).getQuantization().getAffine().setScale(-1.0f); })) ==
        "tensor 'skip': quantisation scale -1 is not positive and finite");
  CHECK(decodeError(craft([&](Builder m) { tensor1(m).getQuantization().getAffine().setScale(std::nanf("")); })) ==
        "tensor 'skip': quantisation scale nan is not positive and finite");
  CHECK(decodeError(craft([&](Builder m) { tensor1(m).getQuantization().getAffine().setZeroPoint(-129); })) ==
        "tensor 'skip': zero point -129 is outside int8's range");
  CHECK(decodeError(craft([&](Builder m) { tensor1(m).setName("conv1_out"); })) == "tensor 'conv1_out' appears twice");
  CHECK(decodeError(craft([&](Builder m) { tensor1(m).setName(std::string(300, 'n')); })) ==
        "tensor name: 300 bytes exceeds the limit of 256");
  CHECK(decodeError(craft([](Builder m) { m.getActivations().setOrigin(std::string(65, 'o')); })) ==
        "origin: 65 bytes exceeds the limit of 64");
  CHECK(decodeError(craft([](Builder m) { m.getActivations().initTensors(17); }), TensorLimits{}) ==
        "17 tensors exceed the limit of 16");

  TensorLimits small;
  small.maxMessageBytes = 600;  // the two tensors are 512 + 64 bytes
  CHECK(decodeError(craft([](Builder) {}), small) == "(accepted)");
  small.maxMessageBytes = 575;
  CHECK(decodeError(craft([](Builder) {}), small) == "tensors of more than 575 bytes in one message");
}

TEST_CASE("frames that do not match their headers are refused") {
  std::vector<zmq::message_t> frames = encodeTensorMessage(sampleMessage()).value();
  std::vector<std::vector<uint8_t>> bytes = bytesOf(frames);
  auto variant = [&](const std::function<void(std::vector<std::vector<uint8_t>>&)>& change) {
    std::vector<std::vector<uint8_t>> copy = bytes;
    change(copy);
    return decodeError(copyFrames(copy));
  };
  CHECK(variant([](auto&) {}) == "(accepted)");
  CHECK(variant([](auto& f) { f[1].pop_back(); }) == "tensor 'conv1_out': frame holds 511 bytes, expected 512");
  CHECK(variant([](auto& f) { f[2].push_back(0); }) == "tensor 'skip': frame holds 65 bytes, expected 64");
  CHECK(variant([](auto& f) { f.pop_back(); }) == "2 tensor headers but 1 tensor frames");
  CHECK(variant([](auto& f) { f.push_back({1, 2, 3}); }) == "2 tensor headers but 3 tensor frames");
  CHECK(variant([](auto& f) { f[0].resize(f[0].size() - 8); }).starts_with("data message header: malformed message"));
  CHECK(variant([](auto& f) { f[0].resize(f[0].size() - 3); }) ==
        "data message header: message of " + std::to_string(bytes[0].size() - 3) +
            " bytes is not a whole number of 8-byte words");
  CHECK(variant([](auto& f) { f[0].resize(DATA_HEADER_LIMITS.maxBytes + 8); }) ==
        "data message header: message of 16392 bytes exceeds the limit of 16384");
  CHECK(decodeError({}) == "data message has no frames");
}

TEST_CASE("bool tensors may only hold 0 and 1") {
  std::mt19937 rng(5);
  TensorMessage m;
  m.tensors.push_back({"mask", randomTensor(DType::Bool, {2, 3}, rng), std::nullopt, 1, 0});
  std::vector<std::vector<uint8_t>> bytes = bytesOf(*encodeTensorMessage(m));
  CHECK(decodeError(copyFrames(bytes)) == "(accepted)");
  bytes[1][4] = 2;
  CHECK(decodeError(copyFrames(bytes)) == "tensor 'mask': byte 4 of a bool tensor is 2");
}

// Several thousand hostile messages: each is rejected (or, for random bit flips that happen to
// leave a consistent message, accepted with a consistent tensor), nothing crashes, and the
// decoder still works afterwards. Run under -DCLEAVE_SANITIZE=ON this also checks that no
// rejected message reads out of bounds.
TEST_CASE("fuzz: random, truncated, oversized and bit-flipped messages are dropped and counted") {
  std::mt19937 rng(424242);
  const TensorMessage sample = sampleMessage();
  const std::vector<std::vector<uint8_t>> valid = bytesOf(*encodeTensorMessage(sample));
  TensorLimits limits;
  limits.maxTensorBytes = 1 << 20;
  size_t attempts = 0;
  size_t rejected = 0;
  auto feed = [&](const std::vector<std::vector<uint8_t>>& frames) {
    ++attempts;
    Result<TensorMessage> result = decodeTensorMessage(copyFrames(frames), limits);
    if (!result) {
      ++rejected;
      return false;
    }
    // Accepted: it must be self-consistent (every tensor as big as its type says).
    for (const WireTensor& t : result->tensors) {
      CHECK(t.tensor.bytes() == static_cast<size_t>(t.tensor.numel()) * dtypeSize(t.tensor.dtype()));
      CHECK(t.tensor.bytes() <= limits.maxTensorBytes);
    }
    return true;
  };
  std::uniform_int_distribution<int> byte(0, 255);
  auto randomBytes = [&](size_t n) {
    std::vector<uint8_t> out(n);
    for (uint8_t& b : out) b = static_cast<uint8_t>(byte(rng));
    return out;
  };

  SUBCASE("random headers and frames") {
    for (int i = 0; i < 2000; ++i) {
      size_t words = rng() % 64;
      std::vector<uint8_t> header = randomBytes(words * 8 + (i % 5 == 0 ? rng() % 8 : 0));
      if (i % 2 == 0 && header.size() >= 8) {
        // A plausible segment table (one segment filling the rest), so the reader gets past it
        // and has to follow random pointers.
        uint32_t zero = 0, size = static_cast<uint32_t>(header.size() / 8 - 1);
        std::memcpy(header.data(), &zero, 4);
        std::memcpy(header.data() + 4, &size, 4);
      }
      std::vector<std::vector<uint8_t>> frames{header};
      for (size_t f = rng() % 4; f > 0; --f) frames.push_back(randomBytes(rng() % 600));
      feed(frames);
    }
    CHECK(rejected == attempts);
  }
  SUBCASE("every truncation of the header, and of each tensor frame") {
    for (size_t n = 0; n < valid[0].size(); ++n) {
      std::vector<std::vector<uint8_t>> frames = valid;
      frames[0].resize(n);
      feed(frames);
    }
    for (size_t f = 1; f < valid.size(); ++f) {
      for (size_t n = 0; n < valid[f].size(); n += 7) {
        std::vector<std::vector<uint8_t>> frames = valid;
        frames[f].resize(n);
        feed(frames);
      }
    }
    CHECK(rejected == attempts);
  }
  SUBCASE("oversized headers and frames") {
    for (int i = 0; i < 200; ++i) {
      std::vector<std::vector<uint8_t>> frames = valid;
      // Grow the header past its cap, or append to a tensor frame.
      if (i % 2 == 0) {
        frames[0].resize(DATA_HEADER_LIMITS.maxBytes + 8 * (1 + rng() % 64));
      } else {
        std::vector<uint8_t> extra = randomBytes(1 + rng() % 4096);
        std::vector<uint8_t>& frame = frames[1 + rng() % 2];
        frame.insert(frame.end(), extra.begin(), extra.end());
      }
      feed(frames);
    }
    CHECK(rejected == attempts);
  }
  SUBCASE("random bit flips and random words in the header") {
    size_t accepted = 0;
    for (int i = 0; i < 3000; ++i) {
      std::vector<std::vector<uint8_t>> frames = valid;
      std::vector<uint8_t>& header = frames[0];
      if (i % 2 == 0) {
        for (int flips = 1 + static_cast<int>(rng() % 3); flips > 0; --flips)
          header[rng() % header.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
      } else {
        size_t word = rng() % (header.size() / 8);
        uint64_t value = (uint64_t{rng()} << 32) | rng();
        std::memcpy(header.data() + word * 8, &value, 8);
      }
      if (feed(frames)) ++accepted;
    }
    // Flips in fields the decoder cannot check (request id, sentAt) are accepted; most are not.
    CHECK(rejected + accepted == attempts);
    CHECK(rejected > attempts / 4);
  }
  // After all of that, the valid message still decodes to what was sent.
  Result<TensorMessage> back = decodeTensorMessage(copyFrames(valid), limits);
  REQUIRE(back.ok());
  REQUIRE(back->tensors.size() == 2);
  CHECK(back->tensors[0].tensor.identical(sample.tensors[0].tensor));
  CHECK(back->tensors[1].tensor.identical(sample.tensors[1].tensor));
  MESSAGE(attempts << " hostile messages, " << rejected << " rejected");
}

}  // namespace
}  // namespace cleave::proto

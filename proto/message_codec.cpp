#include "proto/message_codec.h"

#include <kj/io.h>

#include <cstring>

#include <fmt/format.h>

namespace cleave::proto {

Result<DecodedMessage> DecodedMessage::fromBytes(std::span<const std::byte> bytes, const DecodeLimits& limits) {
  if (bytes.size() > limits.maxBytes)
    return Error{fmt::format("message of {} bytes exceeds the limit of {}", bytes.size(), limits.maxBytes)};
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0)
    return Error{fmt::format("message of {} bytes is not a whole number of 8-byte words", bytes.size())};
  DecodedMessage message;
  message.words_ = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(message.words_.begin(), bytes.data(), bytes.size());
  capnp::ReaderOptions options;
  options.traversalLimitInWords = limits.traversalLimitWords;
  options.nestingLimit = limits.nestingLimit;
  try {
    // The constructor parses the segment table and checks the segments fit in the array.
    message.reader_ = std::make_unique<capnp::FlatArrayMessageReader>(message.words_.asPtr(), options);
  } catch (const kj::Exception& e) {
    return Error{fmt::format("malformed message: {}", e.getDescription().cStr())};
  }
  return message;
}

Result<DecodedMessage> DecodedMessage::fromFrame(const zmq::message_t& frame, const DecodeLimits& limits) {
  return fromBytes({static_cast<const std::byte*>(frame.data()), frame.size()}, limits);
}

Status DecodedMessage::walkRoot(const std::function<void()>& walk) {
  try {
    walk();
  } catch (const kj::Exception& e) {
    return Error{fmt::format("malformed message: {}", e.getDescription().cStr())};
  }
  return {};
}

zmq::message_t encodeMessage(capnp::MessageBuilder& builder) {
  size_t words = capnp::computeSerializedSizeInWords(builder);
  zmq::message_t frame(words * sizeof(capnp::word));
  kj::ArrayOutputStream stream(kj::arrayPtr(static_cast<kj::byte*>(frame.data()), frame.size()));
  capnp::writeMessage(stream, builder);
  return frame;
}

Result<std::string> readText(capnp::Text::Reader text, size_t maxBytes, std::string_view field) {
  if (text.size() > maxBytes) return Error{fmt::format("{}: {} bytes exceeds the limit of {}", field, text.size(), maxBytes)};
  return std::string(text.cStr(), text.size());
}

Result<std::array<uint8_t, 32>> readKey32(capnp::Data::Reader data, std::string_view field) {
  std::array<uint8_t, 32> key{};
  if (data.size() != key.size()) return Error{fmt::format("{}: {} bytes, expected {}", field, data.size(), key.size())};
  std::memcpy(key.data(), data.begin(), key.size());
  return key;
}

capnp::Data::Reader dataOf(std::span<const uint8_t> bytes) { return capnp::Data::Reader(bytes.data(), bytes.size()); }

}  // namespace cleave::proto

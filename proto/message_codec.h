// Cap'n Proto messages to and from ZeroMQ frames, with the limits that make decoding a
// peer's bytes safe. Cap'n Proto readers are lazy: every accessor checks bounds and throws
// kj::Exception on a malformed pointer. So decoding here (1) caps the frame size before copying
// it, (2) reads with a small traversal and nesting limit, (3) walks the whole message once
// (totalSize) so structural damage is found up front, and (4) offers decodeGuard() to run a
// handler so anything left (a Text without its NUL) becomes an Error, never a crash.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <zmq.hpp>

#include "runtime/result.h"

namespace cleave::proto {

// Bounds for reading one Cap'n Proto message from a peer.
struct DecodeLimits {
  size_t maxBytes = 0;              // frame length cap, checked before anything is copied
  uint64_t traversalLimitWords = 0; // total words the reader may visit (counts re-reads too)
  int nestingLimit = 0;             // pointer depth; our schemas nest at most 6 deep
};

// Control messages: plan pushes are the largest (64 stages x a few tensor specs).
constexpr DecodeLimits CONTROL_LIMITS{64 * 1024, 4 * (64 * 1024 / 8), 16};
// Data-plane headers: a few tensor headers; the tensors themselves are separate frames.
constexpr DecodeLimits DATA_HEADER_LIMITS{16 * 1024, 4 * (16 * 1024 / 8), 8};

// A message decoded from one frame. Owns a word-aligned copy of the bytes (ZeroMQ gives no
// alignment guarantee, Cap'n Proto needs 8 bytes) and the reader over it; readers obtained
// from it are valid while it lives.
class DecodedMessage {
 public:
  // Checks the length against limits.maxBytes and that it is a whole number of words, copies,
  // and parses the segment table. Never throws on bad bytes.
  static Result<DecodedMessage> fromBytes(std::span<const std::byte> bytes, const DecodeLimits& limits);
  static Result<DecodedMessage> fromFrame(const zmq::message_t& frame, const DecodeLimits& limits);

  // The root as `Root`, after one walk over the whole message checking every pointer against
  // the bounds and limits. The returned reader can still throw kj::Exception on what the walk
  // does not check (Text termination, traversal budget spent by repeated reads): read it
  // inside decodeGuard().
  template <class Root>
  Result<typename Root::Reader> root() {
    typename Root::Reader reader;
    Status status = walkRoot([&] {
      reader = reader_->getRoot<Root>();
      reader.totalSize();
    });
    if (!status) return status.error();
    return reader;
  }

 private:
  DecodedMessage() = default;
  Status walkRoot(const std::function<void()>& walk);

  kj::Array<capnp::word> words_;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
};

// Runs fn() (which reads Cap'n Proto readers) and turns a kj::Exception into an Error whose
// message starts with `what`. fn returns a Result<T> or Status; so does decodeGuard.
template <class F>
auto decodeGuard(std::string_view what, F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const kj::Exception& e) {
    return Error{std::string(what) + ": malformed message: " + std::string(e.getDescription().cStr())};
  }
}

// Serialises a builder into one frame (flat array, unpacked), writing straight into the
// frame's buffer.
zmq::message_t encodeMessage(capnp::MessageBuilder& builder);

// A Text field as std::string, refused when longer than maxBytes. `field` names it in errors.
Result<std::string> readText(capnp::Text::Reader text, size_t maxBytes, std::string_view field);
// A Data field that must hold a 32-byte CURVE public key or content hash.
Result<std::array<uint8_t, 32>> readKey32(capnp::Data::Reader data, std::string_view field);
// The other direction, for builders.
capnp::Data::Reader dataOf(std::span<const uint8_t> bytes);

}  // namespace cleave::proto

// Reading and writing whole multipart messages without blocking and without trusting the peer
// for their length: a message with more frames than the protocol allows is read to its end (so
// the next one starts cleanly) but only its first frames are kept, and the caller drops it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>
#include <zmq.hpp>

#include "runtime/result.h"

namespace cleave::agent {

struct ReceivedMessage {
  std::vector<zmq::message_t> frames;
  bool truncated = false;  // it had more than maxFrames frames
};

// One message if one is waiting, else nullopt. Never throws on the peer's data.
std::optional<ReceivedMessage> receiveMessage(zmq::socket_t& socket, size_t maxFrames);

// Sends every frame (dontwait). An error when the socket would block (a peer that cannot keep
// up or is not connected) or fails; frames not sent are dropped.
Status sendMessage(zmq::socket_t& socket, std::vector<zmq::message_t>& frames);

// This process's monotonic clock in microseconds (for sentAtMicros; never compared across hosts).
uint64_t monotonicMicros();

}  // namespace cleave::agent

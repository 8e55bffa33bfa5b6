// Receiving one multipart message without trusting its frame count: a peer could send millions
// of tiny frames (each within ZMQ_MAXMSGSIZE), so frames past the cap are read and discarded.
#pragma once

#include <cstddef>
#include <vector>

#include <zmq.hpp>

namespace cleave::proto {

enum class Received { Nothing, Message, TooManyFrames };

// Reads one whole message without blocking. TooManyFrames: it had more than maxFrames frames;
// `frames` is then emptied (the message is dropped whole).
Received receiveMultipart(zmq::socket_t& socket, std::vector<zmq::message_t>& frames, size_t maxFrames);

}  // namespace cleave::proto

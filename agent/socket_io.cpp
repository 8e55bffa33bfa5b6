#include "agent/socket_io.h"

#include <fmt/format.h>

#include <chrono>

namespace cleave::agent {

std::optional<ReceivedMessage> receiveMessage(zmq::socket_t& socket, size_t maxFrames) {
  ReceivedMessage message;
  try {
    zmq::message_t frame;
    if (!socket.recv(frame, zmq::recv_flags::dontwait)) return std::nullopt;
    bool more = frame.more();
    message.frames.push_back(std::move(frame));
    while (more) {
      // The rest of a multipart message is delivered atomically with its first frame.
      zmq::message_t next;
      if (!socket.recv(next, zmq::recv_flags::dontwait)) break;
      more = next.more();
      if (message.frames.size() < maxFrames)
        message.frames.push_back(std::move(next));
      else
        message.truncated = true;
    }
  } catch (const zmq::error_t&) {
    // A socket error (context terminated, interrupted call): nothing readable this round.
    if (message.frames.empty()) return std::nullopt;
    message.truncated = true;
  }
  return message;
}

Status sendMessage(zmq::socket_t& socket, std::vector<zmq::message_t>& frames) {
  try {
    for (size_t i = 0; i < frames.size(); ++i) {
      const bool last = i + 1 == frames.size();
      auto flags = last ? zmq::send_flags::dontwait : (zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      // Later frames of a message cannot fail with EAGAIN once the first went through.
      if (!socket.send(frames[i], flags)) return Error{"the peer is not keeping up (send would block)"};
    }
  } catch (const zmq::error_t& e) {
    return Error{fmt::format("send failed: {}", e.what())};
  }
  return {};
}

uint64_t monotonicMicros() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

}  // namespace cleave::agent

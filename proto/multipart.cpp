#include "proto/multipart.h"

namespace cleave::proto {

Received receiveMultipart(zmq::socket_t& socket, std::vector<zmq::message_t>& frames, size_t maxFrames) {
  frames.clear();
  bool tooMany = false;
  while (true) {
    zmq::message_t frame;
    // Frames of one message arrive together: only the first receive can find nothing.
    if (!socket.recv(frame, frames.empty() && !tooMany ? zmq::recv_flags::dontwait : zmq::recv_flags::none))
      return Received::Nothing;
    bool more = frame.more();
    if (frames.size() < maxFrames && !tooMany) frames.push_back(std::move(frame));
    else tooMany = true;
    if (!more) break;
  }
  if (tooMany) {
    frames.clear();
    return Received::TooManyFrames;
  }
  return Received::Message;
}

}  // namespace cleave::proto

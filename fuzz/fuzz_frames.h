// Multipart ZeroMQ messages as one fuzz input: the frames joined by FRAME_SEPARATOR. A
// separator survives libFuzzer's byte mutations better than length prefixes (an inserted byte
// changes one frame, not the framing of all that follow), and the seed generator writes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>
#include <zmq.hpp>

namespace cleave::fuzz {

constexpr std::string_view FRAME_SEPARATOR = "\n#frame#\n";

// At most maxFrames frames (the rest stay in the last one), as the receivers cap frame counts.
inline std::vector<zmq::message_t> splitFrames(const uint8_t* data, size_t size, size_t maxFrames) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<zmq::message_t> frames;
  while (frames.size() + 1 < maxFrames) {
    size_t at = rest.find(FRAME_SEPARATOR);
    if (at == std::string_view::npos) break;
    frames.emplace_back(rest.data(), at);
    rest.remove_prefix(at + FRAME_SEPARATOR.size());
  }
  frames.emplace_back(rest.data(), rest.size());
  return frames;
}

inline std::span<const std::byte> bytesOf(const zmq::message_t& frame) {
  return {static_cast<const std::byte*>(frame.data()), frame.size()};
}

}  // namespace cleave::fuzz

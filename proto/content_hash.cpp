#include "proto/content_hash.h"

#include <sodium.h>

#include <new>

namespace cleave::proto {
namespace {

// libsodium picks its fastest implementations in sodium_init; calling it again is a cheap
// no-op, so every entry point calls it instead of relying on main() to have done it.
void initSodium() {
  // sodium_init fails only when the system cannot provide randomness or memory: nothing a
  // caller can handle locally.
  if (sodium_init() < 0) throw std::bad_alloc();
}

}  // namespace

ContentHash contentHash(std::span<const uint8_t> bytes) {
  initSodium();
  ContentHash hash{};
  crypto_generichash(hash.data(), hash.size(), bytes.data(), bytes.size(), nullptr, 0);
  return hash;
}

ContentHash contentHash(std::span<const std::byte> bytes) {
  return contentHash(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

std::string toHex(std::span<const uint8_t> bytes) {
  static constexpr char DIGITS[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    hex.push_back(DIGITS[b >> 4]);
    hex.push_back(DIGITS[b & 15]);
  }
  return hex;
}

}  // namespace cleave::proto

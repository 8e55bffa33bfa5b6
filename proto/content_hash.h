// Content hashes (BLAKE2b-256 through libsodium): the cache key of stage graphs sent to agents,
// and the basis of key fingerprints in logs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace cleave::proto {

constexpr size_t CONTENT_HASH_BYTES = 32;
using ContentHash = std::array<uint8_t, CONTENT_HASH_BYTES>;

// BLAKE2b with a 32-byte digest and no key (the same as Python's hashlib.blake2b(digest_size=32)).
ContentHash contentHash(std::span<const std::byte> bytes);
ContentHash contentHash(std::span<const uint8_t> bytes);

// Lower-case hex of any byte string ("0e57...").
std::string toHex(std::span<const uint8_t> bytes);

}  // namespace cleave::proto

#include "proto/content_hash.h"

#include <doctest/doctest.h>

#include <string_view>
#include <vector>

namespace cleave::proto {
namespace {

std::string hashHex(std::span<const uint8_t> bytes) { return toHex(contentHash(bytes)); }

TEST_CASE("contentHash is BLAKE2b-256 (digests from Python's hashlib.blake2b(digest_size=32))") {
  CHECK(hashHex({}) == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  std::string_view abc = "abc";
  CHECK(hashHex({reinterpret_cast<const uint8_t*>(abc.data()), abc.size()}) ==
        "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
  std::vector<uint8_t> ramp;
  for (int i = 0; i < 768; ++i) ramp.push_back(static_cast<uint8_t>(i % 256));
  CHECK(hashHex(ramp) == "b8007121274217790e2923e0ad7027986e5a99d5531ef6ae7d294140fc81615d");
  // The std::byte overload hashes the same bytes.
  CHECK(contentHash(std::as_bytes(std::span<const uint8_t>(ramp))) == contentHash(ramp));
}

TEST_CASE("toHex writes two lower-case digits per byte") {
  const std::vector<uint8_t> bytes{0x00, 0x0f, 0xa0, 0xff};
  CHECK(toHex(bytes) == "000fa0ff");
  CHECK(toHex({}).empty());
}

}  // namespace
}  // namespace cleave::proto

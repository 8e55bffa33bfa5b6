// CURVE key pairs and their files. A fleet member's keys live in DIR/NAME.pub (the Z85 public
// key and a newline, shared freely) and DIR/NAME.secret (the Z85 secret key and a newline, mode
// 0600). Everything read from a key file is validated and errors name the file.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/result.h"

namespace cleave::proto {

constexpr size_t CURVE_KEY_BYTES = 32;  // raw CURVE25519 key
constexpr size_t Z85_KEY_CHARS = 40;    // the same key in Z85 (ZeroMQ RFC 32)
// Key names become file names: at most this long, from [A-Za-z0-9._-], not starting with '.'.
constexpr size_t MAX_KEY_NAME = 64;

using CurveKey = std::array<uint8_t, CURVE_KEY_BYTES>;

// Both halves of a key pair in Z85, as ZeroMQ's socket options take them.
struct CurveKeyPair {
  std::string publicKey;
  std::string secretKey;
};

// A fresh key pair from libzmq (zmq_curve_keypair, which uses libsodium's random source).
Result<CurveKeyPair> generateKeyPair();

// Z85 text -> raw key. Checks the length (40), the alphabet and that every 5-character group
// fits 32 bits; the error says which check failed (the caller adds where the text came from).
Result<CurveKey> decodeZ85Key(std::string_view text);
std::string encodeZ85Key(const CurveKey& key);
// The public key belonging to a Z85 secret key.
Result<std::string> publicKeyFromSecret(std::string_view secretKeyZ85);

// For logs: the first 8 bytes of BLAKE2b-256 of the raw public key, as 16 hex digits. Short
// enough to read, long enough that two keys of one fleet never collide by accident; never a
// secret (it is derived from the public key only).
std::string keyFingerprint(const CurveKey& publicKey);
Result<std::string> keyFingerprint(std::string_view publicKeyZ85);

struct KeyFilePaths {
  std::string publicPath;  // DIR/NAME.pub
  std::string secretPath;  // DIR/NAME.secret
};
KeyFilePaths keyFilePaths(const std::string& dir, const std::string& name);
// Rejects names that are empty, too long, or could leave DIR ('/', "..", a leading '.').
Status checkKeyName(std::string_view name);

// Writes NAME.secret (mode 0600) then NAME.pub (mode 0644) in DIR, creating DIR if needed.
// Each file is written to a temporary file in DIR and then linked into place (refusing an
// existing file, like O_EXCL) or, with `force`, renamed over it, so a reader never sees half a
// key. Without force nothing is written when either file exists.
Status writeKeyFiles(const CurveKeyPair& keys, const std::string& dir, const std::string& name, bool force);

// Read one key file: a regular file of at most 128 bytes holding 40 Z85 characters and an
// optional newline. Returns the Z85 text. The secret reader also refuses a file that group or
// others may read (as ssh does), since such a key must be considered leaked.
Result<std::string> readPublicKeyFile(const std::string& path);
Result<std::string> readSecretKeyFile(const std::string& path);
// The content checks of those readers, on text already read (at most 128 bytes, 40 Z85
// characters, an optional newline); errors start with `path`. The fuzzer calls it directly.
Result<std::string> parseKeyFileText(std::string_view text, const std::string& path, bool secret);
// Both files of DIR/NAME, checked to belong together.
Result<CurveKeyPair> readKeyFiles(const std::string& dir, const std::string& name);

}  // namespace cleave::proto

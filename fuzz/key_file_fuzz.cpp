// Key files (KEYS/NAME.pub and NAME.secret): parseKeyFileText, the content checks that
// readPublicKeyFile and readSecretKeyFile run on what they read; a key that passes is then
// used as the daemon and agents use it (fingerprint, public half of a secret).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "proto/key_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (bool secret : {false, true}) {
    cleave::Result<std::string> key = cleave::proto::parseKeyFileText(text, "fuzz.key", secret);
    if (!key) continue;
    cleave::Result<cleave::proto::CurveKey> raw = cleave::proto::decodeZ85Key(*key);
    // parseKeyFileText accepted it, so it decodes, and encodes back to the same text.
    if (!raw || cleave::proto::encodeZ85Key(*raw) != *key) std::abort();
    (void)cleave::proto::keyFingerprint(*key).ok();
    if (secret) (void)cleave::proto::publicKeyFromSecret(*key).ok();
  }
  return 0;
}

#include "proto/key_files.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace cleave::proto {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the system's temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "cleave-keys-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string path() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void writeText(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path, std::ios::binary) << text;
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

mode_t modeOf(const std::string& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

// The example keys of libzmq's zmq_curve(7) manual page: an independent reference for Z85 and
// for deriving a public key.
constexpr const char* DOC_CLIENT_PUBLIC = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
constexpr const char* DOC_CLIENT_SECRET = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs";
constexpr const char* DOC_SERVER_PUBLIC = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
constexpr const char* DOC_SERVER_SECRET = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6";

TEST_CASE("Z85 keys decode as an independent decoder (Python, RFC 32) says, and encode back") {
  Result<CurveKey> key = decodeZ85Key(DOC_CLIENT_PUBLIC);
  REQUIRE(key.ok());
  const CurveKey expected{0xbb, 0x88, 0x47, 0x1d, 0x65, 0xe2, 0x65, 0x9b, 0x30, 0xc5, 0x5a, 0x53, 0x21, 0xce, 0xbb, 0x5a,
                          0xab, 0x2b, 0x70, 0xa3, 0x98, 0x64, 0x5c, 0x26, 0xdc, 0xa2, 0xb2, 0xfc, 0xb4, 0x3f, 0xc5, 0x18};
  CHECK(*key == expected);
  CHECK(encodeZ85Key(*key) == DOC_CLIENT_PUBLIC);
  // hashlib.blake2b(raw, digest_size=32).hexdigest()[:16]
  CHECK(keyFingerprint(*key) == "598b3f9e645c125f");
  CHECK(*keyFingerprint(std::string_view(DOC_CLIENT_PUBLIC)) == "598b3f9e645c125f");
}

TEST_CASE("public keys derive from secret keys as in the zmq_curve manual") {
  CHECK(*publicKeyFromSecret(DOC_CLIENT_SECRET) == DOC_CLIENT_PUBLIC);
  CHECK(*publicKeyFromSecret(DOC_SERVER_SECRET) == DOC_SERVER_PUBLIC);
  CHECK_FALSE(publicKeyFromSecret("short").ok());
}

TEST_CASE("decodeZ85Key says what is wrong") {
  std::string good = DOC_CLIENT_PUBLIC;
  CHECK(decodeZ85Key(good.substr(0, 39)).error().message == "expected 40 Z85 characters, found 39");
  CHECK(decodeZ85Key(good + "x").error().message == "expected 40 Z85 characters, found 41");
  std::string badChar = good;
  badChar[7] = '~';
  CHECK(decodeZ85Key(badChar).error().message == "character '~' at position 7 is not in the Z85 alphabet");
  std::string control = good;
  control[0] = '\0';
  CHECK(decodeZ85Key(control).error().message == "byte 0x00 at position 0 is not in the Z85 alphabet");
  // "#####" is 85^5 - 1, more than 32 bits can hold.
  std::string overflow = good;
  overflow.replace(10, 5, "#####");
  CHECK(decodeZ85Key(overflow).error().message == "characters 10..14 encode more than 32 bits");
  CHECK_FALSE(keyFingerprint(std::string_view("nope")).ok());
}

TEST_CASE("generated key pairs are valid, distinct and belong together") {
  Result<CurveKeyPair> a = generateKeyPair();
  Result<CurveKeyPair> b = generateKeyPair();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(decodeZ85Key(a->publicKey).ok());
  CHECK(decodeZ85Key(a->secretKey).ok());
  CHECK(a->publicKey != b->publicKey);
  CHECK(a->secretKey != b->secretKey);
  CHECK(*publicKeyFromSecret(a->secretKey) == a->publicKey);
}

TEST_CASE("key files round-trip with the secret at mode 0600") {
  TempDir dir;
  const std::string out = dir.file("keys/nested");  // created on demand
  CurveKeyPair keys = *generateKeyPair();
  REQUIRE(writeKeyFiles(keys, out, "agent-1", false).ok());
  KeyFilePaths paths = keyFilePaths(out, "agent-1");
  CHECK(paths.publicPath == out + "/agent-1.pub");
  CHECK(paths.secretPath == out + "/agent-1.secret");
  CHECK(readAll(paths.publicPath) == keys.publicKey + "\n");
  CHECK(readAll(paths.secretPath) == keys.secretKey + "\n");
  CHECK(modeOf(paths.secretPath) == 0600);
  CHECK(modeOf(paths.publicPath) == 0644);
  Result<CurveKeyPair> back = readKeyFiles(out, "agent-1");
  REQUIRE(back.ok());
  CHECK(back->publicKey == keys.publicKey);
  CHECK(back->secretKey == keys.secretKey);
  // No temporary files are left behind.
  CHECK(std::distance(fs::directory_iterator(out), fs::directory_iterator()) == 2);
}

TEST_CASE("existing key files are not overwritten without force") {
  TempDir dir;
  CurveKeyPair first = *generateKeyPair();
  CurveKeyPair second = *generateKeyPair();
  REQUIRE(writeKeyFiles(first, dir.path(), "daemon", false).ok());
  KeyFilePaths paths = keyFilePaths(dir.path(), "daemon");

  Status refused = writeKeyFiles(second, dir.path(), "daemon", false);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message == paths.secretPath + ": already exists; not overwriting it");
  CHECK(readAll(paths.secretPath) == first.secretKey + "\n");
  CHECK(readAll(paths.publicPath) == first.publicKey + "\n");

  REQUIRE(writeKeyFiles(second, dir.path(), "daemon", true).ok());
  CHECK(readAll(paths.secretPath) == second.secretKey + "\n");
  CHECK(readAll(paths.publicPath) == second.publicKey + "\n");
  CHECK(modeOf(paths.secretPath) == 0600);
}

TEST_CASE("a lone public file also blocks writing, and nothing is half-written") {
  TempDir dir;
  KeyFilePaths paths = keyFilePaths(dir.path(), "x");
  writeText(paths.publicPath, "occupied\n", 0644);
  Status refused = writeKeyFiles(*generateKeyPair(), dir.path(), "x", false);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message == paths.publicPath + ": already exists; not overwriting it");
  CHECK_FALSE(fs::exists(paths.secretPath));
  CHECK(readAll(paths.publicPath) == "occupied\n");
}

TEST_CASE("writeKeyFiles refuses bad names and mismatched pairs") {
  TempDir dir;
  CurveKeyPair keys = *generateKeyPair();
  for (const char* name : {"", "../escape", "a/b", ".hidden", "sp ace"})
    CHECK_FALSE(writeKeyFiles(keys, dir.path(), name, false).ok());
  CHECK(checkKeyName("agent-1.pi_2").ok());
  CHECK_FALSE(checkKeyName(std::string(MAX_KEY_NAME + 1, 'a')).ok());
  CurveKeyPair mixed{generateKeyPair()->publicKey, keys.secretKey};
  CHECK(writeKeyFiles(mixed, dir.path(), "mixed", false).error().message ==
        "the public key does not belong to the secret key");
  CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("corrupt key files are rejected, naming the file") {
  TempDir dir;
  const std::string key = DOC_CLIENT_PUBLIC;
  struct Case {
    const char* file;
    std::string content;
    const char* expected;  // after "<path>: "
  };
  const Case cases[] = {
      {"short.pub", key.substr(0, 30) + "\n", "not a valid CURVE public key: expected 40 Z85 characters, found 30"},
      {"empty.pub", "", "not a valid CURVE public key: expected 40 Z85 characters, found 0"},
      {"twoline.pub", key + "\n\n", "not a valid CURVE public key: expected 40 Z85 characters, found 41"},
      {"badchar.pub", key.substr(0, 39) + "\"\n",
       "not a valid CURVE public key: character '\"' at position 39 is not in the Z85 alphabet"},
      {"overflow.pub", "#####" + key.substr(5) + "\n",
       "not a valid CURVE public key: characters 0..4 encode more than 32 bits"},
      {"huge.pub", std::string(4096, 'a'), "not a CURVE key file: longer than 128 bytes"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.file);
    const std::string path = dir.file(c.file);
    writeText(path, c.content, 0644);
    Result<std::string> read = readPublicKeyFile(path);
    REQUIRE_FALSE(read.ok());
    CHECK(read.error().message == path + ": " + c.expected);
  }
  // CRLF line ends are accepted (a file edited on Windows).
  writeText(dir.file("crlf.pub"), key + "\r\n", 0644);
  CHECK(*readPublicKeyFile(dir.file("crlf.pub")) == key);
  // No newline at all is accepted too.
  writeText(dir.file("bare.pub"), key, 0644);
  CHECK(*readPublicKeyFile(dir.file("bare.pub")) == key);

  CHECK(readPublicKeyFile(dir.file("missing.pub")).error().message.starts_with(dir.file("missing.pub") + ": cannot open"));
  CHECK(readPublicKeyFile(dir.path()).error().message.starts_with(dir.path() + ": "));
}

TEST_CASE("a secret key file readable by others is refused") {
  TempDir dir;
  const std::string path = dir.file("loose.secret");
  writeText(path, std::string(DOC_CLIENT_SECRET) + "\n", 0644);
  CHECK(readSecretKeyFile(path).error().message ==
        path + ": mode 0644 lets others read this secret key; it must be 0600 (chmod 600)");
  REQUIRE(::chmod(path.c_str(), 0600) == 0);
  CHECK(*readSecretKeyFile(path) == DOC_CLIENT_SECRET);
  writeText(path, std::string(DOC_CLIENT_SECRET).substr(1) + "\n", 0600);
  CHECK(readSecretKeyFile(path).error().message ==
        path + ": not a valid CURVE secret key: expected 40 Z85 characters, found 39");
}

TEST_CASE("readKeyFiles refuses a public file that does not belong to the secret") {
  TempDir dir;
  KeyFilePaths paths = keyFilePaths(dir.path(), "pair");
  writeText(paths.secretPath, std::string(DOC_CLIENT_SECRET) + "\n", 0600);
  writeText(paths.publicPath, std::string(DOC_SERVER_PUBLIC) + "\n", 0644);
  CHECK(readKeyFiles(dir.path(), "pair").error().message == paths.publicPath + ": does not belong to " + paths.secretPath);
  writeText(paths.publicPath, std::string(DOC_CLIENT_PUBLIC) + "\n", 0644);
  CHECK(readKeyFiles(dir.path(), "pair").ok());
}

TEST_CASE("parseKeyFileText checks what the key file readers read") {
  const std::string key(40, '0');
  CHECK(parseKeyFileText(key + "\n", "k.pub", false).value() == key);
  CHECK(parseKeyFileText(key + "\r\n", "k.secret", true).value() == key);
  CHECK(parseKeyFileText(key + "\n\n", "k.pub", false).error().message ==
        "k.pub: not a valid CURVE public key: expected 40 Z85 characters, found 41");
  CHECK(parseKeyFileText(std::string(129, '0'), "k.pub", false).error().message ==
        "k.pub: not a CURVE key file: longer than 128 bytes");
}

}  // namespace
}  // namespace cleave::proto

#include "proto/key_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>
#include <zmq.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "proto/content_hash.h"

namespace cleave::proto {
namespace {

constexpr std::string_view Z85_ALPHABET =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
constexpr size_t MAX_KEY_FILE_BYTES = 128;

std::string errnoText(int error) { return std::error_code(error, std::generic_category()).message(); }

// Owns a file descriptor; closes it on scope exit.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Closes now and reports the result (close can fail on NFS after a write).
  int reset() {
    int rc = 0;
    if (fd_ >= 0) rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

Status writeAll(int fd, std::string_view data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Error{fmt::format("{}: cannot write: {}", path, errnoText(errno))};
    done += static_cast<size_t>(n);
  }
  return {};
}

// Writes `content` to a fresh temporary file next to `path` and moves it into place: with
// `exclusive`, link() refuses an existing target atomically (O_EXCL semantics without ever
// exposing a half-written file); otherwise rename() replaces it atomically.
Status writeFileAtomically(const std::string& path, std::string_view content, mode_t mode, bool exclusive) {
  std::filesystem::path target(path);
  std::string tmpName = target.filename().string();
  tmpName.insert(tmpName.begin(), '.');
  tmpName.append(".tmp-XXXXXX");
  std::string tmpl = (target.parent_path() / tmpName).string();
  // mkstemp creates the file with O_EXCL and mode 0600, so a secret is never readable by others,
  // not even while it is being written.
  FileDescriptor fd(::mkstemp(tmpl.data()));
  if (!fd.valid()) return Error{fmt::format("{}: cannot create a temporary file: {}", path, errnoText(errno))};
  auto fail = [&](Error error) -> Status {
    fd.reset();
    ::unlink(tmpl.c_str());
    return error;
  };
  if (::fchmod(fd.get(), mode) != 0) return fail(Error{fmt::format("{}: cannot set mode: {}", path, errnoText(errno))});
  if (Status written = writeAll(fd.get(), content, path); !written) return fail(written.error());
  if (::fsync(fd.get()) != 0) return fail(Error{fmt::format("{}: cannot sync: {}", path, errnoText(errno))});
  if (fd.reset() != 0) return fail(Error{fmt::format("{}: cannot close: {}", path, errnoText(errno))});
  if (exclusive) {
    if (::link(tmpl.c_str(), path.c_str()) != 0) {
      int error = errno;
      ::unlink(tmpl.c_str());
      if (error == EEXIST) return Error{fmt::format("{}: already exists; not overwriting it", path)};
      return Error{fmt::format("{}: cannot create: {}", path, errnoText(error))};
    }
    ::unlink(tmpl.c_str());
  } else if (::rename(tmpl.c_str(), path.c_str()) != 0) {
    int error = errno;
    ::unlink(tmpl.c_str());
    return Error{fmt::format("{}: cannot replace: {}", path, errnoText(error))};
  }
  // Make the new directory entry durable too; failing that is not worth failing the write for.
  FileDescriptor dir(::open(target.parent_path().empty() ? "." : target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.valid()) ::fsync(dir.get());
  return {};
}

Result<std::string> readKeyFile(const std::string& path, bool secret) {
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Error{fmt::format("{}: cannot open key file: {}", path, errnoText(errno))};
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return Error{fmt::format("{}: cannot stat: {}", path, errnoText(errno))};
  if (!S_ISREG(info.st_mode)) return Error{fmt::format("{}: not a regular file", path)};
  if (secret && (info.st_mode & 077) != 0)
    return Error{fmt::format("{}: mode {:04o} lets others read this secret key; it must be 0600 (chmod 600)", path,
                             info.st_mode & 07777)};
  // Read at most one byte past the cap, whatever fstat said (the file may grow meanwhile).
  char buffer[MAX_KEY_FILE_BYTES + 1];
  size_t length = 0;
  while (length < sizeof buffer) {
    ssize_t n = ::read(fd.get(), buffer + length, sizeof buffer - length);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{fmt::format("{}: cannot read: {}", path, errnoText(errno))};
    if (n == 0) break;
    length += static_cast<size_t>(n);
  }
  return parseKeyFileText(std::string_view(buffer, length), path, secret);
}

}  // namespace

Result<std::string> parseKeyFileText(std::string_view text, const std::string& path, bool secret) {
  if (text.size() > MAX_KEY_FILE_BYTES)
    return Error{fmt::format("{}: not a CURVE key file: longer than {} bytes", path, MAX_KEY_FILE_BYTES)};
  if (text.ends_with('\n')) text.remove_suffix(1);
  if (text.ends_with('\r')) text.remove_suffix(1);
  Result<CurveKey> key = decodeZ85Key(text);
  if (!key) return Error{fmt::format("{}: not a valid CURVE {} key: {}", path, secret ? "secret" : "public", key.error().message)};
  return std::string(text);
}

Result<CurveKeyPair> generateKeyPair() {
  char publicKey[Z85_KEY_CHARS + 1] = {};
  char secretKey[Z85_KEY_CHARS + 1] = {};
  if (zmq_curve_keypair(publicKey, secretKey) != 0)
    return Error{fmt::format("cannot generate a CURVE key pair: {} (is libzmq built with CURVE?)", zmq_strerror(zmq_errno()))};
  CurveKeyPair pair{publicKey, secretKey};
  // The caller owns the only copy of the secret from here on.
  sodium_memzero(secretKey, sizeof secretKey);
  return pair;
}

Result<CurveKey> decodeZ85Key(std::string_view text) {
  if (text.size() != Z85_KEY_CHARS)
    return Error{fmt::format("expected {} Z85 characters, found {}", Z85_KEY_CHARS, text.size())};
  CurveKey key{};
  for (size_t group = 0; group < Z85_KEY_CHARS / 5; ++group) {
    uint64_t value = 0;
    for (size_t i = group * 5; i < group * 5 + 5; ++i) {
      size_t digit = Z85_ALPHABET.find(text[i]);
      if (digit == std::string_view::npos) {
        unsigned char c = static_cast<unsigned char>(text[i]);
        return Error{c >= 0x20 && c < 0x7f
                         ? fmt::format("character '{}' at position {} is not in the Z85 alphabet", text[i], i)
                         : fmt::format("byte 0x{:02x} at position {} is not in the Z85 alphabet", c, i)};
      }
      value = value * 85 + digit;
    }
    // Five Z85 digits reach 85^5 - 1 > 2^32 - 1: such a group decodes to no 4-byte value.
    if (value > 0xffffffffu) return Error{fmt::format("characters {}..{} encode more than 32 bits", group * 5, group * 5 + 4)};
    for (size_t b = 0; b < 4; ++b) key[group * 4 + b] = static_cast<uint8_t>(value >> (24 - 8 * b));
  }
  return key;
}

std::string encodeZ85Key(const CurveKey& key) {
  char text[Z85_KEY_CHARS + 1] = {};
  zmq_z85_encode(text, key.data(), key.size());  // cannot fail: the length is a multiple of 4
  return text;
}

Result<std::string> publicKeyFromSecret(std::string_view secretKeyZ85) {
  Result<CurveKey> valid = decodeZ85Key(secretKeyZ85);
  if (!valid) return Error{fmt::format("secret key: {}", valid.error().message)};
  std::string secret(secretKeyZ85);
  char publicKey[Z85_KEY_CHARS + 1] = {};
  if (zmq_curve_public(publicKey, secret.c_str()) != 0)
    return Error{fmt::format("cannot derive the public key: {}", zmq_strerror(zmq_errno()))};
  return std::string(publicKey);
}

std::string keyFingerprint(const CurveKey& publicKey) {
  ContentHash hash = contentHash(std::span<const uint8_t>(publicKey));
  return toHex(std::span<const uint8_t>(hash.data(), 8));
}

Result<std::string> keyFingerprint(std::string_view publicKeyZ85) {
  Result<CurveKey> key = decodeZ85Key(publicKeyZ85);
  if (!key) return key.error();
  return keyFingerprint(*key);
}

KeyFilePaths keyFilePaths(const std::string& dir, const std::string& name) {
  std::filesystem::path base(dir);
  return {(base / (name + ".pub")).string(), (base / (name + ".secret")).string()};
}

Status checkKeyName(std::string_view name) {
  if (name.empty()) return Error{"key name is empty"};
  if (name.size() > MAX_KEY_NAME) return Error{fmt::format("key name is longer than {} characters", MAX_KEY_NAME)};
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return Error{fmt::format("key name '{}' has a character outside [A-Za-z0-9._-]", name)};
  }
  // Hidden files, and "." and ".." themselves.
  if (name.front() == '.') return Error{fmt::format("key name '{}' starts with '.'", name)};
  return {};
}

Status writeKeyFiles(const CurveKeyPair& keys, const std::string& dir, const std::string& name, bool force) {
  CLEAVE_TRY(checkKeyName(name));
  Result<std::string> derived = publicKeyFromSecret(keys.secretKey);
  if (!derived) return derived.error();
  if (*derived != keys.publicKey) return Error{"the public key does not belong to the secret key"};

  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return Error{fmt::format("{}: cannot create directory: {}", dir, error.message())};
  KeyFilePaths paths = keyFilePaths(dir, name);
  if (!force) {
    // Checked up front so that a refusal leaves nothing half-written; link() below still
    // refuses atomically if a file appears in between.
    for (const std::string& path : {paths.secretPath, paths.publicPath}) {
      struct stat info {};
      if (::lstat(path.c_str(), &info) == 0) return Error{fmt::format("{}: already exists; not overwriting it", path)};
    }
  }
  CLEAVE_TRY(writeFileAtomically(paths.secretPath, keys.secretKey + "\n", 0600, !force));
  Status pub = writeFileAtomically(paths.publicPath, keys.publicKey + "\n", 0644, !force);
  if (!pub) {
    // A secret without its public half is useless and confusing; take back what we created.
    if (!force) ::unlink(paths.secretPath.c_str());
    return pub;
  }
  return {};
}

Result<std::string> readPublicKeyFile(const std::string& path) { return readKeyFile(path, false); }

Result<std::string> readSecretKeyFile(const std::string& path) { return readKeyFile(path, true); }

Result<CurveKeyPair> readKeyFiles(const std::string& dir, const std::string& name) {
  CLEAVE_TRY(checkKeyName(name));
  KeyFilePaths paths = keyFilePaths(dir, name);
  Result<std::string> secret = readSecretKeyFile(paths.secretPath);
  if (!secret) return secret.error();
  Result<std::string> pub = readPublicKeyFile(paths.publicPath);
  if (!pub) return pub.error();
  Result<std::string> derived = publicKeyFromSecret(*secret);
  if (!derived) return Error{fmt::format("{}: {}", paths.secretPath, derived.error().message)};
  if (*derived != *pub) return Error{fmt::format("{}: does not belong to {}", paths.publicPath, paths.secretPath)};
  return CurveKeyPair{*pub, *secret};
}

}  // namespace cleave::proto

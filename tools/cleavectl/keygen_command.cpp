#include "tools/cleavectl/keygen_command.h"

#include <memory>
#include <string>

#include <fmt/format.h>

#include "proto/key_files.h"

namespace cleave::cli {
namespace {

struct KeygenOptions {
  std::string name;
  std::string out;
  bool force = false;
};

int fail(const std::string& message) {
  fmt::print(stderr, "cleavectl: error: {}\n", message);
  return 1;
}

int keygen(const KeygenOptions& options) {
  if (Status name = proto::checkKeyName(options.name); !name) return fail(name.error().message);
  Result<proto::CurveKeyPair> keys = proto::generateKeyPair();
  if (!keys) return fail(keys.error().message);
  if (Status written = proto::writeKeyFiles(*keys, options.out, options.name, options.force); !written) {
    const bool exists = written.error().message.ends_with("already exists; not overwriting it");
    return fail(exists ? written.error().message + " (pass --force to replace it)" : written.error().message);
  }
  proto::KeyFilePaths paths = proto::keyFilePaths(options.out, options.name);
  fmt::print("wrote {} and {} (mode 0600)\n", paths.publicPath, paths.secretPath);
  fmt::print("public key:  {}\n", keys->publicKey);
  fmt::print("fingerprint: {}\n", proto::keyFingerprint(std::string_view(keys->publicKey)).value());
  return 0;
}

}  // namespace

void addKeygenCommand(CLI::App& app, int& exitCode) {
  auto options = std::make_shared<KeygenOptions>();
  CLI::App* cmd = app.add_subcommand("keygen", "Write a CURVE key pair (NAME.pub, NAME.secret) for a fleet member");
  cmd->add_option("name", options->name, "Key name: the agent's name, 'daemon' or an operator's")->required();
  cmd->add_option("--out", options->out, "Directory to write the key files in (created if missing)")->required();
  cmd->add_flag("--force", options->force, "Replace existing key files");
  cmd->callback([options, &exitCode] { exitCode = keygen(*options); });
}

}  // namespace cleave::cli

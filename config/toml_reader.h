// Reading TOML tables with every mistake reported at its file:line:column, all of them in one
// pass: a reader takes the keys it knows, checks their types and units, and at the end reports
// whatever keys are left as unknown.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "runtime/result.h"

namespace cleave::config {

// Errors collected while reading one file, each "file:line:column: error: message".
class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void error(const toml::source_region& where, const std::string& message);
  void error(const std::string& message);  // no position: about the file as a whole
  bool failed() const { return !errors_.empty(); }
  // All errors, one per line.
  Error toError() const;
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<std::string> errors_;
};

// Reads the keys of one table. `context` names the table in messages ("[[device]] 'cam'").
class TableReader {
 public:
  TableReader(const toml::table& table, std::string context, Diagnostics& diagnostics);

  // Each returns nullopt when the key is absent (an error when required) or wrong (an error).
  std::optional<std::string> string(std::string_view key, bool required);
  std::optional<double> number(std::string_view key, bool required);  // integer or float
  std::optional<int64_t> integer(std::string_view key, bool required);
  std::optional<bool> boolean(std::string_view key, bool required);
  // A string with units parsed by `parse`; plain numbers are accepted when `numberScale` is set
  // (the number is multiplied by it: bytes for sizes, MAC/s for rates, joules for energy).
  std::optional<double> quantity(std::string_view key, bool required,
                                 const std::function<Result<double>(std::string_view)>& parse,
                                 std::optional<double> numberScale = std::nullopt);
  // A sub-table; nullptr when absent (an error when required) or not a table.
  const toml::table* table(std::string_view key, bool required);
  // The node of a key (nullptr when absent) and its position, for errors found later.
  const toml::node* node(std::string_view key);
  toml::source_region where(std::string_view key) const;
  const toml::source_region& tableWhere() const { return table_.source(); }
  const std::string& context() const { return context_; }
  void error(std::string_view key, const std::string& message);

  // Reports every key not in `accepted` as unknown, listing the keys this table accepts.
  void finish(const std::vector<std::string_view>& accepted);

 private:
  const toml::node* take(std::string_view key, bool required, std::string_view expected);

  const toml::table& table_;
  std::string context_;
  Diagnostics& diagnostics_;
};

// Parses TOML text; a syntax error is recorded in `diagnostics` (file:line:column) and nullopt
// returned.
std::optional<toml::table> parseToml(std::string_view text, Diagnostics& diagnostics);

// Checks on strings from config files, without std::regex: libstdc++'s regex recurses per
// character and overflows the stack on a string of some 30 KB, which a config file may hold.
// "tcp://..." or "ipc://..." with something after it and no whitespace (libzmq checks the rest).
bool isZmqEndpoint(std::string_view text);
// One or more of [A-Za-z0-9_-]: device, agent and key names.
bool isPlainName(std::string_view text);

// Topology, agent, bundle and trace files are far smaller (a 100000-row trace is about 3 MB).
constexpr size_t MAX_TEXT_FILE_BYTES = 16 << 20;
// A whole file as text, or "PATH: cannot open file", or an error when it exceeds MAX_TEXT_FILE_BYTES.
Result<std::string> readTextFile(const std::string& path);

// "an integer", "a string", ... for messages about wrong types.
std::string_view typeName(const toml::node& node);

}  // namespace cleave::config

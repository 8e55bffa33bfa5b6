#include "config/toml_reader.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace cleave::config {

void Diagnostics::error(const toml::source_region& where, const std::string& message) {
  errors_.push_back(fmt::format("{}:{}:{}: error: {}", file_, where.begin.line, where.begin.column, message));
}

void Diagnostics::error(const std::string& message) { errors_.push_back(fmt::format("{}: error: {}", file_, message)); }

Error Diagnostics::toError() const { return Error{fmt::format("{}", fmt::join(errors_, "\n"))}; }

std::optional<toml::table> parseToml(std::string_view text, Diagnostics& diagnostics) {
  try {
    return toml::parse(text, std::string_view(diagnostics.file()));
  } catch (const toml::parse_error& e) {
    diagnostics.error(e.source(), std::string(e.description()));
    return std::nullopt;
  }
}

bool isZmqEndpoint(std::string_view text) {
  if (!text.starts_with("tcp://") && !text.starts_with("ipc://")) return false;
  text.remove_prefix(6);
  return !text.empty() &&
         std::none_of(text.begin(), text.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

bool isPlainName(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
  });
}

Result<std::string> readTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{fmt::format("{}: cannot open file", path)};
  // Read in chunks up to a cap: a config may name /dev/zero or a pipe as a trace file.
  std::string text;
  char chunk[64 * 1024];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<size_t>(in.gcount()));
    if (text.size() > MAX_TEXT_FILE_BYTES)
      return Error{fmt::format("{}: larger than {} bytes; not a cleave text file", path, MAX_TEXT_FILE_BYTES)};
  }
  if (in.bad()) return Error{fmt::format("{}: cannot read", path)};
  return text;
}

std::string_view typeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time: return "a date or time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

TableReader::TableReader(const toml::table& table, std::string context, Diagnostics& diagnostics)
    : table_(table), context_(std::move(context)), diagnostics_(diagnostics) {}

toml::source_region TableReader::where(std::string_view key) const {
  auto it = table_.find(key);
  return it == table_.end() ? table_.source() : it->first.source();
}

void TableReader::error(std::string_view key, const std::string& message) {
  diagnostics_.error(where(key), fmt::format("{}: '{}' {}", context_, key, message));
}

const toml::node* TableReader::node(std::string_view key) { return table_.get(key); }

const toml::node* TableReader::take(std::string_view key, bool required, std::string_view expected) {
  const toml::node* n = node(key);
  if (!n && required)
    diagnostics_.error(table_.source(), fmt::format("{}: missing required key '{}' ({})", context_, key, expected));
  return n;
}

std::optional<std::string> TableReader::string(std::string_view key, bool required) {
  const toml::node* n = take(key, required, "a string");
  if (!n) return std::nullopt;
  if (auto value = n->value<std::string>(); n->is_string()) return *value;
  error(key, fmt::format("must be a string, not {}", typeName(*n)));
  return std::nullopt;
}

std::optional<double> TableReader::number(std::string_view key, bool required) {
  const toml::node* n = take(key, required, "a number");
  if (!n) return std::nullopt;
  if (n->is_number()) return *n->value<double>();
  error(key, fmt::format("must be a number, not {}", typeName(*n)));
  return std::nullopt;
}

std::optional<int64_t> TableReader::integer(std::string_view key, bool required) {
  const toml::node* n = take(key, required, "an integer");
  if (!n) return std::nullopt;
  if (n->is_integer()) return *n->value<int64_t>();
  error(key, fmt::format("must be an integer, not {}", typeName(*n)));
  return std::nullopt;
}

std::optional<bool> TableReader::boolean(std::string_view key, bool required) {
  const toml::node* n = take(key, required, "true or false");
  if (!n) return std::nullopt;
  if (n->is_boolean()) return *n->value<bool>();
  error(key, fmt::format("must be true or false, not {}", typeName(*n)));
  return std::nullopt;
}

std::optional<double> TableReader::quantity(std::string_view key, bool required,
                                            const std::function<Result<double>(std::string_view)>& parse,
                                            std::optional<double> numberScale) {
  const toml::node* n = take(key, required, "a quantity with units");
  if (!n) return std::nullopt;
  if (n->is_number() && numberScale) {
    double value = *n->value<double>() * *numberScale;
    if (value < 0) {
      error(key, "must not be negative");
      return std::nullopt;
    }
    return value;
  }
  if (!n->is_string()) {
    error(key, fmt::format("must be a string with units{}, not {}", numberScale ? " or a number" : "", typeName(*n)));
    return std::nullopt;
  }
  Result<double> value = parse(*n->value<std::string_view>());
  if (!value) {
    error(key, value.error().message);
    return std::nullopt;
  }
  return *value;
}

const toml::table* TableReader::table(std::string_view key, bool required) {
  const toml::node* n = take(key, required, "a table");
  if (!n) return nullptr;
  if (const toml::table* t = n->as_table()) return t;
  error(key, fmt::format("must be a table, not {}", typeName(*n)));
  return nullptr;
}

void TableReader::finish(const std::vector<std::string_view>& accepted) {
  for (auto&& [key, value] : table_) {
    if (std::find(accepted.begin(), accepted.end(), key.str()) != accepted.end()) continue;
    diagnostics_.error(key.source(), fmt::format("{}: unknown key '{}' (expected one of: {})", context_, key.str(),
                                                 fmt::join(accepted, ", ")));
  }
}

}  // namespace cleave::config

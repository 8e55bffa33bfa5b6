#include "runtime/npy.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <optional>
#include <string_view>
#include <sstream>

#include <fmt/format.h>

namespace cleave {
namespace {

constexpr char NPY_MAGIC[] = "\x93NUMPY";
constexpr int64_t MAX_NPY_ELEMENTS = int64_t{1} << 31;

struct NpyDType {
  const char* descr;
  DType dtype;
};
constexpr NpyDType NPY_DTYPES[] = {{"<f4", DType::F32}, {"<f2", DType::F16}, {"|i1", DType::I8},
                                   {"|u1", DType::U8},  {"<i4", DType::I32}, {"<i8", DType::I64},
                                   {"|b1", DType::Bool}};

// numpy itself refuses longer headers when loading (max_header_size = 10000): a real header is
// under 200 bytes, and a long one would only be a way to make parsing slow.
constexpr size_t MAX_NPY_HEADER = 10000;

std::string_view trimmed(std::string_view s) {
  constexpr std::string_view SPACE = " \t\r\n";
  size_t first = s.find_first_not_of(SPACE);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(SPACE) - first + 1);
}

// The text after `'key':` (and spaces) in the header's Python dict, at the first place the key
// is followed by a colon; nullopt when there is none.
std::optional<std::string_view> valueOf(std::string_view header, std::string_view key) {
  // fmt, not "'" + std::string(key): GCC 12 reports a false -Wrestrict there (its bug 105329).
  const std::string quoted = fmt::format("'{}'", key);
  for (size_t at = header.find(quoted); at != std::string_view::npos; at = header.find(quoted, at + 1)) {
    std::string_view rest = header.substr(at + quoted.size());
    rest.remove_prefix(std::min(rest.size(), rest.find_first_not_of(" \t")));
    if (rest.starts_with(':')) {
      rest.remove_prefix(1);
      rest.remove_prefix(std::min(rest.size(), rest.find_first_not_of(" \t")));
      return rest;
    }
  }
  return std::nullopt;
}

const char* descrOf(DType dtype) {
  for (const NpyDType& d : NPY_DTYPES)
    if (d.dtype == dtype) return d.descr;
  return nullptr;
}

}  // namespace

Result<Tensor> parseNpy(const std::string& bytes, const std::string& name) {
  auto fail = [&](const std::string& what) { return Error{fmt::format("{}: {}", name, what)}; };
  if (bytes.size() < 10 || std::memcmp(bytes.data(), NPY_MAGIC, 6) != 0) return fail("not a .npy file (bad magic)");
  uint8_t major = static_cast<uint8_t>(bytes[6]);
  size_t headerLength = 0;
  size_t headerStart = 0;
  if (major == 1) {
    headerLength = static_cast<uint8_t>(bytes[8]) | (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return fail("truncated header");
    for (int i = 0; i < 4; ++i) headerLength |= static_cast<size_t>(static_cast<uint8_t>(bytes[8 + i])) << (8 * i);
    headerStart = 12;
  } else {
    return fail(fmt::format("unsupported .npy version {}", major));
  }
  if (headerStart + headerLength > bytes.size()) return fail("truncated header");
  if (headerLength > MAX_NPY_HEADER)
    return fail(fmt::format("header of {} bytes is longer than {}", headerLength, MAX_NPY_HEADER));
  const std::string_view header = std::string_view(bytes).substr(headerStart, headerLength);

  std::optional<std::string_view> descrText = valueOf(header, "descr");
  if (!descrText || descrText->empty() || descrText->front() != '\'') return fail("header has no 'descr'");
  size_t descrEnd = descrText->find('\'', 1);
  if (descrEnd == std::string_view::npos) return fail("header has no 'descr'");
  std::string descr(descrText->substr(1, descrEnd - 1));
  if (descr == "<f4" || descr == "=f4") descr = "<f4";
  DType dtype = DType::Undefined;
  for (const NpyDType& d : NPY_DTYPES)
    if (descr == d.descr || (descr.size() == 3 && descr[0] == '=' && descr.substr(1) == std::string(d.descr).substr(1)))
      dtype = d.dtype;
  if (dtype == DType::Undefined) return fail(fmt::format("dtype '{}' is not supported", descr));
  std::optional<std::string_view> fortran = valueOf(header, "fortran_order");
  if (!fortran || !(fortran->starts_with("True") || fortran->starts_with("False")))
    return fail("header has no 'fortran_order'");
  if (fortran->starts_with("True")) return fail("Fortran-ordered arrays are not supported");
  std::optional<std::string_view> shapeText = valueOf(header, "shape");
  size_t shapeEnd = shapeText ? shapeText->find(')') : std::string_view::npos;
  if (!shapeText || !shapeText->starts_with('(') || shapeEnd == std::string_view::npos)
    return fail("header has no 'shape'");
  Shape shape;
  int64_t count = 1;
  // "(2, 3)", "(3,)" or "()": dimensions separated by commas, a trailing comma allowed.
  std::string_view dims = shapeText->substr(1, shapeEnd - 1);
  while (!trimmed(dims).empty()) {
    size_t comma = dims.find(',');
    std::string_view digits = trimmed(dims.substr(0, comma));
    dims = comma == std::string_view::npos ? std::string_view() : dims.substr(comma + 1);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos)
      return fail(fmt::format("shape: '{}' is not a dimension", digits));
    if (digits.size() > 12) return fail("dimension too large");
    int64_t d = std::stoll(std::string(digits));
    if (d > 0 && count > MAX_NPY_ELEMENTS / d) return fail("array too large");
    count *= d;
    shape.push_back(d);
  }
  // The length check comes before the allocation: a 100-byte file may claim 2^31 elements.
  const size_t dataStart = headerStart + headerLength;
  const size_t needed = static_cast<size_t>(count) * dtypeSize(dtype);
  if (bytes.size() - dataStart != needed)
    return fail(fmt::format("data has {} bytes, {} of {} needs {}", bytes.size() - dataStart,
                            shapeString(shape), dtypeName(dtype), needed));
  Tensor t = Tensor::zeros(dtype, shape);
  if (t.bytes() > 0) std::memcpy(t.raw(), bytes.data() + dataStart, t.bytes());
  return t;
}

Result<Tensor> readNpy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{fmt::format("{}: cannot open file", path)};
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parseNpy(buffer.str(), path);
}

std::string serializeNpy(const Tensor& tensor) {
  // Python tuple syntax, as numpy writes it: (), (3,), (1, 3).
  std::string shape = fmt::format("{}", fmt::join(tensor.shape(), ", "));
  if (tensor.rank() == 1) shape += ",";
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}",
                                   descrOf(tensor.dtype()), shape);
  // Pad so the data starts on a 64-byte boundary, ending the header with a newline.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::string out(NPY_MAGIC, 6);
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>((header.size() >> 8) & 0xff));
  out += header;
  out.append(reinterpret_cast<const char*>(tensor.raw()), tensor.bytes());
  return out;
}

Status writeNpy(const std::string& path, const Tensor& tensor) {
  if (!descrOf(tensor.dtype())) return Error{fmt::format("{}: cannot write dtype {}", path, dtypeName(tensor.dtype()))};
  std::ofstream out(path, std::ios::binary);
  if (!out) return Error{fmt::format("{}: cannot open for writing", path)};
  std::string bytes = serializeNpy(tensor);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) return Error{fmt::format("{}: write failed", path)};
  return {};
}

}  // namespace cleave

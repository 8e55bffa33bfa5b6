#include "runtime/npy.h"

#include <cstring>
#include <fstream>
#include <regex>
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
  std::string header = bytes.substr(headerStart, headerLength);

  std::smatch match;
  if (!std::regex_search(header, match, std::regex(R"('descr'\s*:\s*'([^']*)')")))
    return fail("header has no 'descr'");
  std::string descr = match[1];
  if (descr == "<f4" || descr == "=f4") descr = "<f4";
  DType dtype = DType::Undefined;
  for (const NpyDType& d : NPY_DTYPES)
    if (descr == d.descr || (descr.size() == 3 && descr[0] == '=' && descr.substr(1) == std::string(d.descr).substr(1)))
      dtype = d.dtype;
  if (dtype == DType::Undefined) return fail(fmt::format("dtype '{}' is not supported", descr));
  if (!std::regex_search(header, match, std::regex(R"('fortran_order'\s*:\s*(True|False))")))
    return fail("header has no 'fortran_order'");
  if (match[1] == "True") return fail("Fortran-ordered arrays are not supported");
  if (!std::regex_search(header, match, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")))
    return fail("header has no 'shape'");
  Shape shape;
  std::string dims = match[1];
  std::regex number(R"(\s*(\d+)\s*,?)");
  int64_t count = 1;
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), number); it != std::sregex_iterator(); ++it) {
    const std::string digits = (*it)[1];
    if (digits.size() > 12) return fail("dimension too large");
    int64_t d = std::stoll(digits);
    if (d > 0 && count > MAX_NPY_ELEMENTS / d) return fail("array too large");
    count *= d;
    shape.push_back(d);
  }
  Tensor t = Tensor::zeros(dtype, shape);
  size_t dataStart = headerStart + headerLength;
  if (bytes.size() - dataStart != t.bytes())
    return fail(fmt::format("data has {} bytes, {} of {} needs {}", bytes.size() - dataStart,
                            shapeString(shape), dtypeName(dtype), t.bytes()));
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

#include "runtime/npy.h"

#include <doctest/doctest.h>

using namespace cleave;

namespace {

// The header dict text up to its padding, and where the data starts.
std::pair<std::string, size_t> headerOf(const std::string& bytes) {
  size_t length = static_cast<uint8_t>(bytes[8]) | (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
  std::string header = bytes.substr(10, length);
  header.erase(header.find_last_not_of(" \n") + 1);
  return {header, 10 + length};
}

}  // namespace

TEST_CASE("headers match what numpy.save writes") {
  // Expected text printed by numpy 1.24's np.save for the same arrays.
  auto [f32, f32Start] = headerOf(serializeNpy(Tensor::zeros(DType::F32, {1, 3})));
  CHECK(f32 == "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }");
  auto [i64, i64Start] = headerOf(serializeNpy(Tensor::zeros(DType::I64, {3})));
  CHECK(i64 == "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }");
  auto [u8, u8Start] = headerOf(serializeNpy(Tensor::scalar<uint8_t>(7)));
  CHECK(u8 == "{'descr': '|u1', 'fortran_order': False, 'shape': (), }");
  for (size_t start : {f32Start, i64Start, u8Start}) CHECK(start % 64 == 0);
}

TEST_CASE("every dtype survives a write and read") {
  for (DType d : {DType::F32, DType::F16, DType::I8, DType::U8, DType::I32, DType::I64, DType::Bool}) {
    CAPTURE(dtypeName(d));
    Tensor t = Tensor::zeros(d, {2, 3, 4});
    for (size_t i = 0; i < t.bytes(); ++i) t.raw()[i] = std::byte(d == DType::Bool ? i % 2 : (i * 37) % 251);
    Result<Tensor> back = parseNpy(serializeNpy(t), "t.npy");
    REQUIRE_MESSAGE(back.ok(), back.error().message);
    CHECK(back->identical(t));
  }
}

TEST_CASE("malformed files are refused with the file name and the reason") {
  std::string good = serializeNpy(Tensor::zeros(DType::F32, {2, 2}));
  auto refused = [](const std::string& bytes) {
    Result<Tensor> t = parseNpy(bytes, "x.npy");
    return t.ok() ? std::string() : t.error().message;
  };
  CHECK(refused(good.substr(0, good.size() - 1)).find("x.npy: data has 15 bytes") == 0);
  CHECK(refused(good.substr(0, 9)).find("bad magic") != std::string::npos);
  CHECK(refused("garbage").find("bad magic") != std::string::npos);
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  CHECK(refused(fortran).find("Fortran") != std::string::npos);
  std::string float64 = good;
  float64.replace(float64.find("<f4"), 3, "<f8");
  CHECK(refused(float64).find("dtype '<f8' is not supported") != std::string::npos);
  std::string huge = good;
  huge.replace(huge.find("(2, 2)"), 6, "(9999999, 9999999)");
  CHECK(refused(huge).find("too large") != std::string::npos);
}

TEST_CASE("hostile headers are refused before any large allocation or deep parsing (fuzz/regressions/npy)") {
  auto refused = [](const std::string& bytes) {
    Result<Tensor> t = parseNpy(bytes, "x.npy");
    return t.ok() ? std::string() : t.error().message;
  };
  auto version2 = [](const std::string& header, const std::string& data) {
    std::string out("\x93NUMPY\x02\x00", 8);
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
    return out + header + data;
  };
  // 2^31 - 1 int64 elements claimed by 78 bytes: the data length is checked first.
  CHECK(refused(version2("{'descr': '<i8', 'fortran_order': False, 'shape': (2147483647,), }", "")) ==
        "x.npy: data has 0 bytes, [2147483647] of int64 needs 17179869176");
  // Once overflowed std::regex's recursion; numpy itself caps headers at 10000 bytes.
  CHECK(refused(version2("{'descr': '" + std::string(60000, 'a') + "', }", "")) ==
        "x.npy: header of 60015 bytes is longer than 10000");
  CHECK(refused(version2("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x3), }", "")) ==
        "x.npy: shape: 'x3' is not a dimension");
  Result<Tensor> scalar =
      parseNpy(version2("{'descr':'<f4','fortran_order':False,'shape':()}", std::string(4, '\0')), "s");
  REQUIRE_MESSAGE(scalar.ok(), scalar.error().message);
  CHECK(scalar->rank() == 0);
}

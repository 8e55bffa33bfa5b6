// .npy bytes (cleavectl's tensor files): parseNpy, which readNpy calls on the file's bytes. A
// tensor that parses is written back and read again, so the writer's header agrees with the reader.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "runtime/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  cleave::Result<cleave::Tensor> tensor = cleave::parseNpy(bytes, "fuzz.npy");
  if (!tensor) return 0;
  cleave::Result<cleave::Tensor> again = cleave::parseNpy(cleave::serializeNpy(*tensor), "round trip");
  // A tensor we wrote must read back: anything else is a bug in npy.cpp, not bad input.
  if (!again || again->type() != tensor->type()) std::abort();
  return 0;
}

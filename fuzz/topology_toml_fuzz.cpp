// Topology TOML (configs/*.toml): parseTopology, which loadTopology calls on the file's text.
// The path lies in a folder that does not exist, so traces and bundles named by the file are
// looked up and reported missing, as for a file whose neighbours are gone.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/topology.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  cleave::Result<cleave::config::Topology> topology =
      cleave::config::parseTopology(text, "/nonexistent-cleave-fuzz/topology.toml");
  (void)topology.ok();
  return 0;
}

// Agent TOML (agent.toml): parseAgentConfig, which loadAgentConfig calls on the file's text.
// Relative trace and key paths resolve into a folder that does not exist.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/agent_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  cleave::Result<cleave::config::AgentConfig> config =
      cleave::config::parseAgentConfig(text, "/nonexistent-cleave-fuzz/agent.toml");
  (void)config.ok();
  return 0;
}

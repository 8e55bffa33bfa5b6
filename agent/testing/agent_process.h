// A cleave-agent child process for tests: started with posix_spawn (its stdout and stderr go to
// a file), watched through a pidfd so a test can wait for its exit inside a bounded poll, and
// killed if still running when the object goes away.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "runtime/result.h"

namespace cleave::agent::testing {

class AgentProcess {
 public:
  // Runs `binary` with `arguments`; output goes to `outputFile`.
  static Result<AgentProcess> start(const std::string& binary, const std::vector<std::string>& arguments,
                                    const std::string& outputFile);
  AgentProcess(AgentProcess&& other) noexcept;
  AgentProcess& operator=(AgentProcess&&) = delete;
  ~AgentProcess();

  pid_t pid() const { return pid_; }
  bool running() const { return !exitStatus_.has_value(); }
  void signal(int signal) const;
  // Waits (poll on the pidfd, bounded) for the process to exit; its wait status, or nullopt on
  // timeout.
  std::optional<int> waitExit(std::chrono::milliseconds timeout);
  // Waits until the process is stopped (after SIGSTOP).
  bool waitStopped();

 private:
  AgentProcess(pid_t pid, int pidfd) : pid_(pid), pidfd_(pidfd) {}
  pid_t pid_ = -1;
  int pidfd_ = -1;
  std::optional<int> exitStatus_;
};

// The whole text of a file ("" when it cannot be read).
std::string readFile(const std::string& path);

}  // namespace cleave::agent::testing

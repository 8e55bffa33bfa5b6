#include "agent/testing/agent_process.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

extern char** environ;

namespace cleave::agent::testing {

Result<AgentProcess> AgentProcess::start(const std::string& binary, const std::vector<std::string>& arguments,
                                         const std::string& outputFile) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, outputFile.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<std::string> all{binary};
  all.insert(all.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (std::string& argument : all) argv.push_back(argument.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) return Error{fmt::format("cannot start {}: {}", binary, std::strerror(spawned))};
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return Error{fmt::format("pidfd_open: {}", std::strerror(errno))};
  }
  return AgentProcess(pid, pidfd);
}

AgentProcess::AgentProcess(AgentProcess&& other) noexcept
    : pid_(other.pid_), pidfd_(other.pidfd_), exitStatus_(other.exitStatus_) {
  other.pid_ = -1;
  other.pidfd_ = -1;
}

AgentProcess::~AgentProcess() {
  if (pid_ > 0 && running()) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (pidfd_ >= 0) close(pidfd_);
}

void AgentProcess::signal(int sig) const {
  if (pid_ > 0 && running()) kill(pid_, sig);
}

std::optional<int> AgentProcess::waitExit(std::chrono::milliseconds timeout) {
  if (exitStatus_) return exitStatus_;
  pollfd fd{pidfd_, POLLIN, 0};
  if (poll(&fd, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
  int status = 0;
  if (waitpid(pid_, &status, 0) != pid_) return std::nullopt;
  exitStatus_ = status;
  return status;
}

bool AgentProcess::waitStopped() {
  int status = 0;
  return waitpid(pid_, &status, WUNTRACED) == pid_ && WIFSTOPPED(status);
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace cleave::agent::testing

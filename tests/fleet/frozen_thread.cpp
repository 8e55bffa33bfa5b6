#include "tests/fleet/frozen_thread.h"

#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>

namespace cleave::testing {
namespace {

std::string firstLine(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

Result<FrozenThread> FrozenThread::freeze(int pid, const std::string& threadName) {
  const std::filesystem::path tasks = fmt::format("/proc/{}/task", pid);
  std::error_code error;
  for (const auto& task : std::filesystem::directory_iterator(tasks, error)) {
    if (firstLine(task.path() / "comm") != threadName) continue;
    const int tid = std::stoi(task.path().filename().string());
    if (ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0 || ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0)
      return Error{fmt::format("cannot ptrace thread {} of {}: {}", tid, pid, std::strerror(errno))};
    FrozenThread frozen(tid);
    int status = 0;
    if (waitpid(tid, &status, __WALL) != tid || !WIFSTOPPED(status))
      return Error{fmt::format("thread {} of {} did not stop: {}", tid, pid, std::strerror(errno))};
    // /proc/TID/syscall starts with the number of the system call it is blocked in.
    const std::string syscall = firstLine(task.path() / "syscall");
    if (syscall.rfind(std::to_string(SYS_futex) + " ", 0) != 0)
      return Error{fmt::format("thread {} of {} was not idle in a futex wait (syscall: {})", tid, pid, syscall)};
    return frozen;
  }
  return Error{fmt::format("process {} has no thread named '{}'", pid, threadName)};
}

bool FrozenThread::reapAfterKill(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (tid_ >= 0 && std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    const pid_t got = waitpid(tid_, &status, __WALL | WNOHANG);
    if ((got == tid_ && (WIFEXITED(status) || WIFSIGNALED(status))) || (got < 0 && errno == ECHILD)) tid_ = -1;
    else std::this_thread::sleep_for(std::chrono::milliseconds(5));  // waitpid has no timeout
  }
  return tid_ < 0;
}

void FrozenThread::thaw() {
  if (tid_ < 0) return;
  (void)ptrace(PTRACE_DETACH, tid_, nullptr, nullptr);
  tid_ = -1;
}

}  // namespace cleave::testing

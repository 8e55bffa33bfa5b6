// What every XNNPACK-backed kernel shares: the library's one-time start, an owning handle for an
// operator, and a meter for the memory an operator keeps. XNNPACK allocates through an allocator
// we hand it at start; counting there is how packed weights and scratch become exact figures in
// Kernel::heldBytes and Kernel::scratchBytes rather than estimates.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <xnnpack.h>

#include "runtime/result.h"

namespace cleave::xnn {

// Starts XNNPACK once per process; false when the CPU lacks what it needs (then nothing may use it).
bool available();

struct OperatorDeleter {
  void operator()(xnn_operator_t op) const { xnn_delete_operator(op); }
};
using Operator = std::unique_ptr<xnn_operator, OperatorDeleter>;

// Counts the bytes XNNPACK allocates, less what it frees, on this thread while the meter lives.
// Meters nest; each sees everything allocated during its own lifetime.
class MemoryMeter {
 public:
  MemoryMeter();
  ~MemoryMeter();
  MemoryMeter(const MemoryMeter&) = delete;
  MemoryMeter& operator=(const MemoryMeter&) = delete;
  int64_t bytes() const;

 private:
  int64_t start_;
};

// "XNNPACK <what> failed: <status name>".
std::string statusMessage(const char* what, xnn_status status);

}  // namespace cleave::xnn

#include "runtime/xnnpack/xnn_support.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

namespace cleave::xnn {
namespace {

// Net bytes XNNPACK holds that were allocated on this thread. Operators are created and set up
// on the thread that builds the session, so a meter there sees exactly that session's memory.
thread_local int64_t allocatedOnThisThread = 0;

// Every block carries a header just below the pointer handed out: the block's size (for the
// count) and malloc's own pointer (to free it, whatever the alignment asked).
struct Header {
  void* base;
  size_t size;
};
constexpr size_t MIN_ALIGNMENT = 64;  // XNNPACK_ALIGNMENT on AVX-512; also enough for NEON

void* allocateAligned(void*, size_t alignment, size_t size) {
  alignment = std::max(alignment, MIN_ALIGNMENT);
  size_t headerRoom = (sizeof(Header) + alignment - 1) / alignment * alignment;
  void* base = std::malloc(size + headerRoom + alignment);
  if (!base) return nullptr;
  uintptr_t start = reinterpret_cast<uintptr_t>(base) + headerRoom;
  start = (start + alignment - 1) / alignment * alignment;
  auto* header = reinterpret_cast<Header*>(start) - 1;
  header->base = base;
  header->size = size;
  allocatedOnThisThread += static_cast<int64_t>(size);
  return reinterpret_cast<void*>(start);
}

void deallocate(void*, void* pointer) {
  if (!pointer) return;
  Header* header = static_cast<Header*>(pointer) - 1;
  allocatedOnThisThread -= static_cast<int64_t>(header->size);
  std::free(header->base);
}

void* allocate(void* context, size_t size) { return allocateAligned(context, MIN_ALIGNMENT, size); }

void* reallocate(void* context, void* pointer, size_t size) {
  void* fresh = allocateAligned(context, MIN_ALIGNMENT, size);
  if (fresh && pointer) {
    std::memcpy(fresh, pointer, std::min(size, (static_cast<Header*>(pointer) - 1)->size));
    deallocate(context, pointer);
  }
  return fresh;
}

xnn_allocator countingAllocator{nullptr, allocate, reallocate, deallocate, allocateAligned, deallocate};

}  // namespace

bool available() {
  static const bool started = xnn_initialize(&countingAllocator) == xnn_status_success;
  return started;
}

MemoryMeter::MemoryMeter() : start_(allocatedOnThisThread) {}
MemoryMeter::~MemoryMeter() = default;
int64_t MemoryMeter::bytes() const { return allocatedOnThisThread - start_; }

std::vector<float> channelsLastWeights(const float* w, int64_t outChannels, int64_t inPerGroup, int64_t kernelPlane) {
  std::vector<float> packed(static_cast<size_t>(outChannels * inPerGroup * kernelPlane));
  for (int64_t o = 0; o < outChannels; ++o)
    for (int64_t i = 0; i < inPerGroup; ++i)
      for (int64_t k = 0; k < kernelPlane; ++k)
        packed[static_cast<size_t>((o * kernelPlane + k) * inPerGroup + i)] = w[(o * inPerGroup + i) * kernelPlane + k];
  return packed;
}

std::string statusMessage(const char* what, xnn_status status) {
  const char* name = "unknown status";
  switch (status) {
    case xnn_status_success: name = "success"; break;
    case xnn_status_uninitialized: name = "uninitialized"; break;
    case xnn_status_invalid_parameter: name = "invalid parameter"; break;
    case xnn_status_invalid_state: name = "invalid state"; break;
    case xnn_status_unsupported_parameter: name = "unsupported parameter"; break;
    case xnn_status_unsupported_hardware: name = "unsupported hardware"; break;
    case xnn_status_out_of_memory: name = "out of memory"; break;
  }
  return fmt::format("XNNPACK {} failed: {}", what, name);
}

}  // namespace cleave::xnn

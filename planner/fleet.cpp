#include "planner/fleet.h"

namespace cleave::planner {

const char* opClassName(OpClass opClass) {
  switch (opClass) {
    case OpClass::Conv: return "conv";
    case OpClass::Depthwise: return "depthwise";
    case OpClass::Gemm: return "gemm";
    case OpClass::Elementwise: return "elementwise";
    case OpClass::Other: return "other";
  }
  return "other";
}

std::optional<size_t> Fleet::deviceIndex(const std::string& name) const {
  for (size_t i = 0; i < devices.size(); ++i)
    if (devices[i].name == name) return i;
  return std::nullopt;
}

const Link* Fleet::linkBetween(size_t from, size_t to) const {
  for (const Link& link : links)
    if ((link.a == from && link.b == to) || (link.a == to && link.b == from)) return &link;
  return nullptr;
}

Link* Fleet::linkBetween(size_t from, size_t to) {
  return const_cast<Link*>(static_cast<const Fleet*>(this)->linkBetween(from, to));
}

double Fleet::bytesPerSecond(size_t from, size_t to) const {
  const Link* link = linkBetween(from, to);
  if (!link) return 0;
  return link->a == from ? link->bytesPerSecond : link->reverseBytesPerSecond;
}

bool Fleet::setBytesPerSecond(size_t from, size_t to, double value) {
  Link* link = linkBetween(from, to);
  if (!link) return false;
  (link->a == from ? link->bytesPerSecond : link->reverseBytesPerSecond) = value;
  return true;
}

}  // namespace cleave::planner

#include "agent/graph_cache.h"

#include <fmt/format.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "runtime/onnx_import.h"

namespace cleave::agent {

Status GraphCache::insert(const proto::ContentHash& hash, std::span<const std::byte> bytes, uint64_t expectedBytes) {
  const std::string name = proto::toHex(hash).substr(0, 16);
  if (bytes.size() > MAX_GRAPH_BYTES)
    return Error{fmt::format("graph {}: {} bytes exceed the limit of {}", name, bytes.size(), MAX_GRAPH_BYTES)};
  if (bytes.size() != expectedBytes)
    return Error{fmt::format("graph {}: {} bytes, the plan announced {}", name, bytes.size(), expectedBytes)};
  if (proto::contentHash(bytes) != hash) return Error{fmt::format("graph {}: the bytes do not hash to it", name)};
  if (contains(hash)) return {};
  auto stored = std::make_shared<const std::string>(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  totalBytes_ += stored->size();
  graphs_[hash] = Entry{std::move(stored), ++useCounter_};
  return {};
}

std::shared_ptr<const std::string> GraphCache::get(const proto::ContentHash& hash) {
  auto it = graphs_.find(hash);
  if (it == graphs_.end()) return nullptr;
  it->second.lastUse = ++useCounter_;
  return it->second.bytes;
}

void GraphCache::trim(const std::set<proto::ContentHash>& pinned, uint64_t budget) {
  std::vector<std::pair<uint64_t, proto::ContentHash>> unpinned;
  uint64_t unpinnedBytes = 0;
  for (const auto& [hash, entry] : graphs_)
    if (!pinned.contains(hash)) {
      unpinned.emplace_back(entry.lastUse, hash);
      unpinnedBytes += entry.bytes->size();
    }
  std::sort(unpinned.begin(), unpinned.end());
  for (const auto& [lastUse, hash] : unpinned) {
    if (unpinnedBytes <= budget) break;
    auto it = graphs_.find(hash);
    unpinnedBytes -= it->second.bytes->size();
    totalBytes_ -= it->second.bytes->size();
    graphs_.erase(it);
  }
}

Result<Graph> importGraphBytes(std::string_view bytes, std::string_view label) {
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
    return Error{fmt::format("{}: {} bytes is too large for protobuf", label, bytes.size())};
  onnx::ModelProto model;
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return Error{fmt::format("{}: not a valid ONNX model (protobuf parse failed)", label)};
  Result<Graph> graph = importOnnxModel(model);
  if (!graph) return Error{fmt::format("{}: {}", label, graph.error().message)};
  return graph;
}

}  // namespace cleave::agent

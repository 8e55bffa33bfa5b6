// Stage graphs by content hash. The daemon names each stage's graph by the BLAKE2b-256 of its
// ONNX bytes; the agent fetches the ones it lacks (graphRequest/graphBlob) and keeps them here,
// so a re-plan that moves cuts but reuses stages sends nothing. Bytes are checked (length and
// hash) on the way in; parsing and importing them happens later, off the I/O thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include "proto/content_hash.h"
#include "runtime/graph.h"
#include "runtime/result.h"

namespace cleave::agent {

// The largest stage graph an agent takes (also the control socket's frame limit).
constexpr uint64_t MAX_GRAPH_BYTES = 64ull << 20;
// Graphs not used by a kept epoch stay cached up to this many bytes in total (least recently
// used go first), so a plan that comes back needs no fetch.
constexpr uint64_t GRAPH_CACHE_BUDGET = 256ull << 20;

class GraphCache {
 public:
  bool contains(const proto::ContentHash& hash) const { return graphs_.contains(hash); }

  // Stores `bytes` under `hash` after checking that they are at most `expectedBytes` long (the
  // size the plan announced, itself capped by MAX_GRAPH_BYTES) and hash to `hash`.
  Status insert(const proto::ContentHash& hash, std::span<const std::byte> bytes, uint64_t expectedBytes);

  // The bytes of a cached graph (shared, so a load job can read them on another thread while
  // the cache drops them); null when absent. Marks the graph as recently used.
  std::shared_ptr<const std::string> get(const proto::ContentHash& hash);

  // Drops graphs not in `pinned`, least recently used first, until the others fit the budget.
  void trim(const std::set<proto::ContentHash>& pinned, uint64_t budget = GRAPH_CACHE_BUDGET);

  size_t size() const { return graphs_.size(); }
  uint64_t totalBytes() const { return totalBytes_; }

 private:
  struct Entry {
    std::shared_ptr<const std::string> bytes;
    uint64_t lastUse = 0;
  };
  std::map<proto::ContentHash, Entry> graphs_;
  uint64_t totalBytes_ = 0;
  uint64_t useCounter_ = 0;
};

// Parses ONNX bytes into a ModelProto and imports it (runtime/onnx_import). `label` names the
// graph in errors. Safe on any bytes: protobuf's parser is bounded and the importer checks every
// size before allocating.
Result<Graph> importGraphBytes(std::string_view bytes, std::string_view label);

}  // namespace cleave::agent

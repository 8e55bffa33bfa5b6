// The graph cache takes only bytes that match the announced hash and size; importing checks
// what protobuf and the importer can; trimming keeps pinned graphs and the recently used.
#include "agent/graph_cache.h"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

namespace cleave::agent {
namespace {

std::string modelBytes() {
  std::ifstream in(std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-small/model.onnx", std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

std::span<const std::byte> spanOf(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace

TEST_CASE("the cache stores bytes that hash to the announced hash and size, and nothing else") {
  const std::string bytes = modelBytes();
  REQUIRE(bytes.size() > 1000);
  const proto::ContentHash hash = proto::contentHash(spanOf(bytes));
  GraphCache cache;
  CHECK(cache.insert(hash, spanOf(bytes), bytes.size() - 1).error().message.find("the plan announced") !=
        std::string::npos);
  std::string tampered = bytes;
  tampered[tampered.size() / 2] ^= 1;
  CHECK(cache.insert(hash, spanOf(tampered), tampered.size()).error().message.find("do not hash") != std::string::npos);
  CHECK_FALSE(cache.contains(hash));
  REQUIRE(cache.insert(hash, spanOf(bytes), bytes.size()).ok());
  CHECK(cache.contains(hash));
  CHECK(cache.totalBytes() == bytes.size());
  REQUIRE(cache.get(hash) != nullptr);
  CHECK(*cache.get(hash) == bytes);

  Result<Graph> graph = importGraphBytes(*cache.get(hash), "stage 0");
  REQUIRE_MESSAGE(graph.ok(), graph.error().message);
  CHECK_FALSE(graph->nodes.empty());
}

TEST_CASE("garbage bytes import as errors naming the graph") {
  Result<Graph> garbage = importGraphBytes("\x08\x96\x01 this is not onnx", "stage 3");
  REQUIRE_FALSE(garbage.ok());
  CHECK(garbage.error().message.rfind("stage 3: ", 0) == 0);
  Result<Graph> empty = importGraphBytes("", "stage 4");
  CHECK_FALSE(empty.ok());
}

TEST_CASE("trimming keeps pinned graphs and drops the least recently used others past the budget") {
  GraphCache cache;
  std::vector<proto::ContentHash> hashes;
  for (int i = 0; i < 4; ++i) {
    std::string bytes(100, static_cast<char>('a' + i));
    hashes.push_back(proto::contentHash(spanOf(bytes)));
    REQUIRE(cache.insert(hashes.back(), spanOf(bytes), bytes.size()).ok());
  }
  (void)cache.get(hashes[0]);    // now the most recently used
  cache.trim({hashes[3]}, 150);  // one unpinned graph fits
  CHECK(cache.contains(hashes[3]));
  CHECK(cache.contains(hashes[0]));
  CHECK_FALSE(cache.contains(hashes[1]));
  CHECK_FALSE(cache.contains(hashes[2]));
  CHECK(cache.totalBytes() == 200);
}

}  // namespace cleave::agent

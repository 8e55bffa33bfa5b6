// ONNX model bytes, as a .onnx file or a stage graph pushed by the daemon: importOnnxBytes
// (what importOnnxFile calls), analyzeGraph (every op's prepare and constant propagation) and
// then Session::create, which an agent runs on every stage it receives (kernels, memory plan).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "runtime/analysis.h"
#include "runtime/onnx_import.h"
#include "runtime/session.h"

namespace {

// An agent only holds stages the planner fitted into its RAM; a valid graph with gigabytes of
// activations would only exercise the allocator (and trip libFuzzer's malloc limit), so the
// session is built for graphs whose values fit this budget.
constexpr int64_t MAX_SESSION_BYTES = int64_t{256} << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  cleave::Result<cleave::Graph> graph = cleave::importOnnxBytes(bytes, "fuzz.onnx");
  if (!graph) return 0;
  cleave::Result<cleave::GraphAnalysis> analysis = cleave::analyzeGraph(*graph);
  if (!analysis) return 0;
  // What the session's arena will hold: every output each node produces, named or not.
  int64_t total = 0;
  for (const cleave::PreparedNode& node : analysis->nodes)
    for (const cleave::TensorType& type : node.outputTypes) total += type.bytes();
  if (total > MAX_SESSION_BYTES) return 0;
  cleave::Result<std::unique_ptr<cleave::Session>> session = cleave::Session::create(*graph);
  (void)session.ok();
  return 0;
}

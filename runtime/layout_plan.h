// Which layout each node of a session runs in. Convolutions and pools whose fast kernel is
// channels-last pull their region of the graph into NHWC; elementwise ops and concatenations
// follow their inputs; everything else stays NCHW. The session converts a value only where its
// producer and a consumer disagree, so a chain of NHWC nodes pays one conversion at each end.
#pragma once

#include <vector>

#include "runtime/analysis.h"
#include "runtime/layout.h"

namespace cleave {

struct LayoutPlan {
  std::vector<Layout> nodeLayout;  // per graph node; constant nodes are Nchw

  bool runsNhwc(size_t node) const { return nodeLayout[node] == Layout::Nhwc; }
};

LayoutPlan planLayouts(const Graph& graph, const GraphAnalysis& analysis);

// True when `value` is stored differently in NCHW and NHWC (a rank-4 activation whose channels
// and image are both larger than 1), so that a layout mismatch needs a conversion.
bool needsConversion(const GraphAnalysis& analysis, const std::string& value);

}  // namespace cleave

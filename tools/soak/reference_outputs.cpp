#include "tools/soak/reference_outputs.h"

#include <fmt/format.h>

#include <filesystem>

#include "config/bundle.h"
#include "runtime/npy.h"
#include "runtime/session.h"
#include "tools/demo/fmnist_reader.h"

namespace cleave::soak {

Result<ReferenceSet> loadReferences(const std::string& bundlePath, size_t count) {
  ReferenceSet set;
  if (std::filesystem::exists(demo::FMNIST_DIR)) {
    Result<demo::LabelledImages> images = demo::readFashionMnist(demo::FMNIST_DIR, "t10k");
    if (!images) return images.error();
    const size_t n = std::min(count, images->images.size());
    set.inputs.assign(images->images.begin(), images->images.begin() + static_cast<ptrdiff_t>(n));
    set.source = fmt::format("the first {} Fashion-MNIST test images ({})", n, demo::FMNIST_DIR);
  } else {
    const std::string sample = (std::filesystem::path(bundlePath) / "sample.npy").string();
    Result<Tensor> input = readNpy(sample);
    if (!input) return input.error();
    set.inputs.push_back(std::move(*input));
    set.source = fmt::format("{} ({} is not installed)", sample, demo::FMNIST_DIR);
  }
  // optimize = true: the graph the daemon plans and cuts, so the same kernels see the same data.
  Result<config::ModelBundle> bundle = config::loadBundle(bundlePath, true);
  if (!bundle) return bundle.error();
  Result<std::unique_ptr<Session>> session = Session::create(bundle->graph);
  if (!session) return session.error();
  for (const Tensor& input : set.inputs) {
    Result<std::vector<Tensor>> out = (*session)->run({input});
    if (!out) return out.error();
    if (out->size() != 1) return Error{fmt::format("{}: the soak checks models with one output", bundlePath)};
    set.outputs.push_back(std::move((*out)[0]));
  }
  return set;
}

}  // namespace cleave::soak

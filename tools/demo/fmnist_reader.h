// Fashion-MNIST from Debian's dataset-fashion-mnist: the gzipped IDX files, read with zlib, as
// [1, 1, 28, 28] float tensors (pixels / 255, as the models were trained) and their labels.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/result.h"
#include "runtime/tensor.h"

namespace cleave::demo {

constexpr const char* FMNIST_DIR = "/usr/share/datasets/fashion-mnist";

struct LabelledImages {
  std::vector<Tensor> images;
  std::vector<int64_t> labels;
};

// `split`: "t10k" or "train". Errors name the file.
Result<LabelledImages> readFashionMnist(const std::string& dir, const std::string& split);

}  // namespace cleave::demo

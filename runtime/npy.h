// NumPy .npy files (format versions 1 to 3, C order, little-endian), the tensor format of the
// command line. Everything read is checked: magic, header, dtype, shape and data length.
#pragma once

#include <string>

#include "runtime/result.h"
#include "runtime/tensor.h"

namespace cleave {

Result<Tensor> readNpy(const std::string& path);
Result<Tensor> parseNpy(const std::string& bytes, const std::string& nameForErrors);
Status writeNpy(const std::string& path, const Tensor& tensor);
std::string serializeNpy(const Tensor& tensor);

}  // namespace cleave

#include "tools/demo/fmnist_reader.h"

#include <fmt/format.h>
#include <zlib.h>

namespace cleave::demo {
namespace {

// The whole decompressed file.
Result<std::string> readGzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) return Error{fmt::format("{}: cannot open file (install dataset-fashion-mnist)", path)};
  std::string out;
  char buffer[1 << 16];
  int n = 0;
  while ((n = gzread(file, buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<size_t>(n));
  const bool failed = n < 0;
  gzclose(file);
  if (failed) return Error{fmt::format("{}: not a readable gzip file", path)};
  return out;
}

uint32_t bigEndian(const std::string& bytes, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

}  // namespace

Result<LabelledImages> readFashionMnist(const std::string& dir, const std::string& split) {
  const std::string imagePath = fmt::format("{}/{}-images-idx3-ubyte.gz", dir, split);
  const std::string labelPath = fmt::format("{}/{}-labels-idx1-ubyte.gz", dir, split);
  Result<std::string> images = readGzip(imagePath);
  if (!images) return images.error();
  Result<std::string> labels = readGzip(labelPath);
  if (!labels) return labels.error();
  // IDX: magic 0x803 (ubyte, 3 dims) then count, rows, cols; labels: 0x801 then count.
  if (images->size() < 16 || bigEndian(*images, 0) != 0x803) return Error{imagePath + ": not an IDX image file"};
  if (labels->size() < 8 || bigEndian(*labels, 0) != 0x801) return Error{labelPath + ": not an IDX label file"};
  const uint32_t count = bigEndian(*images, 4), rows = bigEndian(*images, 8), cols = bigEndian(*images, 12);
  if (rows != 28 || cols != 28 || images->size() != 16 + size_t{count} * 784)
    return Error{fmt::format("{}: expected {} images of 28x28", imagePath, count)};
  if (bigEndian(*labels, 4) != count || labels->size() != 8 + size_t{count})
    return Error{fmt::format("{}: expected {} labels", labelPath, count)};
  LabelledImages out;
  out.images.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    std::vector<float> pixels(784);
    for (size_t p = 0; p < 784; ++p)
      pixels[p] = static_cast<float>(static_cast<unsigned char>((*images)[16 + size_t{i} * 784 + p])) / 255.0f;
    out.images.push_back(Tensor::fromVector<float>({1, 1, 28, 28}, pixels));
    out.labels.push_back(static_cast<unsigned char>((*labels)[8 + i]));
  }
  return out;
}

}  // namespace cleave::demo

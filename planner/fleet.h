// The fleet as the planner sees it: device profiles and the links between them, in SI units
// (seconds, bytes, joules, MAC/s, bytes per second). Plain data; config/ builds it from TOML.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cleave::planner {

// Device speeds differ by kind of work, so MAC/s is given per class of op. Mirrors the
// runtime's OpClass; config/ converts between the two.
enum class OpClass : uint8_t { Conv, Depthwise, Gemm, Elementwise, Other };
constexpr size_t OP_CLASS_COUNT = 5;
const char* opClassName(OpClass opClass);

struct DeviceProfile {
  std::string name;
  std::string kind;  // "mcu", "pi", "cloud" or any label
  // MAC/s for each OpClass (indexed by its value); all positive.
  std::array<double, OP_CLASS_COUNT> macsPerSecond{};
  double nodeOverheadSeconds = 10e-6;  // fixed cost of running one node
  int64_t ramBytes = 0;
  std::optional<int64_t> flashBytes;  // weights live here when declared; otherwise in RAM
  double joulesPerMac = 0;
  double radioJoulesPerByte = 0;  // to send one byte from this device
  // The arithmetic it has kernels for (`precisions` in the topology): a microcontroller with
  // only the int8 runtime takes no float32 node; relaying a stage's bytes needs neither.
  bool runsFloat32 = true;
  bool runsInt8 = true;

  double rate(OpClass opClass) const { return macsPerSecond[static_cast<size_t>(opClass)]; }
  // True when the device has kernels for a node of this precision.
  bool runs(bool int8Node) const { return int8Node ? runsInt8 : runsFloat32; }
};

// A link joins two devices and carries data both ways; the reverse direction may be slower
// (an LTE uplink) or faster.
struct Link {
  size_t a = 0, b = 0;  // device indices
  double bytesPerSecond = 0;         // a -> b
  double reverseBytesPerSecond = 0;  // b -> a
  double rttSeconds = 0;
};

struct Fleet {
  std::vector<DeviceProfile> devices;
  std::vector<Link> links;

  std::optional<size_t> deviceIndex(const std::string& name) const;
  // The link joining two devices, if any.
  const Link* linkBetween(size_t from, size_t to) const;
  Link* linkBetween(size_t from, size_t to);
  // Bandwidth from -> to over their link (0 when there is none).
  double bytesPerSecond(size_t from, size_t to) const;
  // Sets the bandwidth of the from -> to direction; false when there is no such link.
  bool setBytesPerSecond(size_t from, size_t to, double bytesPerSecond);
};

}  // namespace cleave::planner

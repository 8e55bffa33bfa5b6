#include "daemon/profile_message.h"

#include <algorithm>
#include <cmath>

#include "proto/message_codec.h"

namespace cleave::daemon {

Result<planner::DeviceProfile> decodeProfile(wire::DeviceProfile::Reader p, const std::string& name) {
  planner::DeviceProfile d;
  d.name = name;
  Result<std::string> kind = proto::readText(p.getKind(), 32, "profile.kind");
  if (!kind) return kind.error();
  d.kind = *kind;
  auto rates = p.getMacsPerSecond();
  double values[] = {rates.getConv(), rates.getDepthwise(), rates.getGemm(), rates.getElementwise(), rates.getOther()};
  for (size_t i = 0; i < planner::OP_CLASS_COUNT; ++i) {
    if (!(std::isfinite(values[i]) && values[i] > 0)) return Error{"profile: every MAC/s rate must be positive"};
    d.macsPerSecond[i] = values[i];
  }
  d.nodeOverheadSeconds = p.getNodeOverheadSeconds();
  d.joulesPerMac = p.getJoulesPerMac();
  d.radioJoulesPerByte = p.getRadioJoulesPerByte();
  for (double v : {d.nodeOverheadSeconds, d.joulesPerMac, d.radioJoulesPerByte})
    if (!(std::isfinite(v) && v >= 0)) return Error{"profile: overhead and energies must be finite and >= 0"};
  if (p.getRamBytes() == 0 || p.getRamBytes() > (uint64_t{1} << 50)) return Error{"profile: RAM must be > 0"};
  d.ramBytes = static_cast<int64_t>(p.getRamBytes());
  if (p.getFlashBytes() > 0)
    d.flashBytes = static_cast<int64_t>(std::min<uint64_t>(p.getFlashBytes(), uint64_t{1} << 50));
  return d;
}

}  // namespace cleave::daemon

#include "agent/device_profile.h"

#include <fmt/format.h>

namespace cleave::agent {

planner::DeviceProfile profileFromMeasurement(const MeasuredProfile& measured, const std::string& name) {
  planner::DeviceProfile profile;
  profile.name = name;
  profile.kind = "measured";
  auto rate = [&](OpClass opClass) {
    const ClassMeasurement* m = measured.find(opClass);
    return m != nullptr && m->medianSeconds > 0 ? m->macsPerSecond() : 0.0;
  };
  using planner::OpClass;
  profile.macsPerSecond[static_cast<size_t>(OpClass::Conv)] = rate(cleave::OpClass::Conv);
  profile.macsPerSecond[static_cast<size_t>(OpClass::Depthwise)] = rate(cleave::OpClass::Depthwise);
  profile.macsPerSecond[static_cast<size_t>(OpClass::Gemm)] = rate(cleave::OpClass::Gemm);
  profile.macsPerSecond[static_cast<size_t>(OpClass::Elementwise)] = rate(cleave::OpClass::Elementwise);
  profile.macsPerSecond[static_cast<size_t>(OpClass::Other)] = rate(cleave::OpClass::Conv);
  profile.nodeOverheadSeconds = measured.nodeOverheadSeconds;
  profile.ramBytes = measured.ramBytes;
  return profile;
}

Result<StartupProfile> startupProfile(const config::AgentConfig& config) {
  if (config.device) return StartupProfile{*config.device, false};
  Result<MeasuredProfile> measured = measureDeviceProfile(BenchmarkOptions{config.measureSeconds, config.threads});
  if (!measured) return Error{"measuring this device: " + measured.error().message};
  return StartupProfile{profileFromMeasurement(*measured, config.name), true};
}

}  // namespace cleave::agent

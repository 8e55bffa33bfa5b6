#include "daemon/profile_message.h"

#include <capnp/message.h>
#include <doctest/doctest.h>

#include <cmath>

using namespace cleave;
using namespace cleave::daemon;

namespace {

void fill(wire::DeviceProfile::Builder p) {
  p.setKind("pi");
  auto rates = p.initMacsPerSecond();
  rates.setConv(3e9);
  rates.setDepthwise(6e8);
  rates.setGemm(1.5e9);
  rates.setElementwise(6e8);
  rates.setOther(1e8);
  p.setNodeOverheadSeconds(2e-5);
  p.setJoulesPerMac(1e-10);
  p.setRadioJoulesPerByte(0);
  p.setRamBytes(uint64_t{3} << 30);
}

}  // namespace

TEST_CASE("a registered profile becomes the planner's, named after the agent") {
  capnp::MallocMessageBuilder message;
  auto p = message.initRoot<wire::DeviceProfile>();
  fill(p);
  p.setFlashBytes(uint64_t{1} << 60);  // clamped, not refused
  Result<planner::DeviceProfile> d = decodeProfile(p.asReader(), "pi1");
  REQUIRE(d.ok());
  CHECK(d->name == "pi1");
  CHECK(d->kind == "pi");
  CHECK(d->macsPerSecond[0] == 3e9);
  CHECK(d->ramBytes == int64_t{3} << 30);
  CHECK(d->flashBytes == int64_t{1} << 50);
}

TEST_CASE("rates the planner divides by, and energies, must be usable") {
  capnp::MallocMessageBuilder message;
  auto p = message.initRoot<wire::DeviceProfile>();
  fill(p);
  p.getMacsPerSecond().setGemm(std::nan(""));
  CHECK(decodeProfile(p.asReader(), "pi1").error().message == "profile: every MAC/s rate must be positive");
  fill(p);
  p.setJoulesPerMac(-1);
  CHECK(decodeProfile(p.asReader(), "pi1").error().message == "profile: overhead and energies must be finite and >= 0");
  fill(p);
  p.setRamBytes(0);
  CHECK(decodeProfile(p.asReader(), "pi1").error().message == "profile: RAM must be > 0");
  fill(p);
  p.setKind(std::string(33, 'k'));
  CHECK_FALSE(decodeProfile(p.asReader(), "pi1").ok());
}

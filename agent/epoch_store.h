// The plan epochs an agent keeps: the newest two it accepted, each with its stages loaded into
// sessions. A request finishes under the epoch it started in, so the previous epoch's stages
// (and its peers in the data-plane allow-list) stay while the newest takes new requests.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "proto/plan_codec.h"
#include "runtime/session.h"

namespace cleave::agent {

// One stage ready to run. The session is shared so a job already queued keeps it alive when
// its epoch is dropped; only the compute thread ever runs it.
struct LoadedStage {
  proto::StageSpec spec;
  std::shared_ptr<Session> session;
  size_t nodes = 0;  // graph nodes, for logs
};

struct Epoch {
  proto::PlanSpec plan;
  std::map<uint32_t, LoadedStage> stages;
};

class EpochStore {
 public:
  static constexpr size_t KEPT_EPOCHS = 2;

  // Adds an epoch newer than every kept one (the caller checks); returns the epochs dropped to
  // keep KEPT_EPOCHS.
  std::vector<uint64_t> accept(Epoch epoch);
  // Forgets everything (after registering again: the daemon may have restarted its epochs).
  void clear() { epochs_.clear(); }

  const Epoch* find(uint64_t epoch) const;
  const Epoch* newest() const { return epochs_.empty() ? nullptr : &epochs_.rbegin()->second; }
  const Epoch* oldest() const { return epochs_.empty() ? nullptr : &epochs_.begin()->second; }
  // 0 when no epoch is kept.
  uint64_t newestEpoch() const { return epochs_.empty() ? 0 : epochs_.rbegin()->first; }
  std::vector<uint64_t> epochs() const;

  // The peers of every kept epoch by name (the newest epoch's entry wins when a peer moved).
  std::map<std::string, proto::PeerSpec> peers() const;
  // Their keys in Z85: exactly what the data-plane ZAP handler admits.
  std::set<std::string> allowedKeys() const;
  // Graphs the kept epochs run, so the cache keeps them.
  std::set<proto::ContentHash> graphHashes() const;

 private:
  std::map<uint64_t, Epoch> epochs_;
};

}  // namespace cleave::agent

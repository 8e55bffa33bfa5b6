#include "agent/epoch_store.h"

namespace cleave::agent {

std::vector<uint64_t> EpochStore::accept(Epoch epoch) {
  const uint64_t number = epoch.plan.epoch;
  epochs_[number] = std::move(epoch);
  std::vector<uint64_t> dropped;
  while (epochs_.size() > KEPT_EPOCHS) {
    dropped.push_back(epochs_.begin()->first);
    epochs_.erase(epochs_.begin());
  }
  return dropped;
}

const Epoch* EpochStore::find(uint64_t epoch) const {
  auto it = epochs_.find(epoch);
  return it == epochs_.end() ? nullptr : &it->second;
}

std::vector<uint64_t> EpochStore::epochs() const {
  std::vector<uint64_t> out;
  for (const auto& [number, epoch] : epochs_) out.push_back(number);
  return out;
}

std::map<std::string, proto::PeerSpec> EpochStore::peers() const {
  std::map<std::string, proto::PeerSpec> out;
  for (const auto& [number, epoch] : epochs_)  // oldest first, so newer entries overwrite
    for (const proto::PeerSpec& peer : epoch.plan.peers) out[peer.name] = peer;
  return out;
}

std::set<std::string> EpochStore::allowedKeys() const {
  std::set<std::string> keys;
  for (const auto& [number, epoch] : epochs_)
    for (const proto::PeerSpec& peer : epoch.plan.peers) keys.insert(proto::encodeZ85Key(peer.publicKey));
  return keys;
}

std::set<proto::ContentHash> EpochStore::graphHashes() const {
  std::set<proto::ContentHash> hashes;
  for (const auto& [number, epoch] : epochs_)
    for (const proto::StageSpec& stage : epoch.plan.stages) hashes.insert(stage.graphHash);
  return hashes;
}

}  // namespace cleave::agent

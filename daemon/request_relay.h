// Operators' infer requests, relayed through the fleet. Each takes a daemon-wide request id and
// waits here until the running plan's origin agent is online; it goes there as a `submit`, and
// ends with the `completed` the plan's last stage sends (its result goes back to the operator),
// a failure, or its deadline. Every end is counted and shown to watchers. Nothing is retried
// here: the origin agent re-runs what a plan change lost (docs/protocol.md).
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "config/bundle.h"
#include "daemon/agent_registry.h"
#include "daemon/control_server.h"
#include "daemon/daemon_counters.h"
#include "daemon/watchers.h"
#include "proto/control.capnp.h"
#include "proto/tensor_frame.h"

namespace cleave::daemon {

class RequestRelay {
 public:
  RequestRelay(const config::ModelBundle& bundle, ControlServer& server, Watchers& watchers, DaemonCounters& counters)
      : bundle_(bundle), server_(server), watchers_(watchers), counters_(counters) {}

  // An operator's infer: its inputs checked against the bundle's (an error reply names the bad one).
  void accept(const std::string& operatorId, uint64_t operatorRequestId, wire::Infer::Reader infer,
              std::span<zmq::message_t> tensorFrames);
  // Submits every request not yet submitted to `origin`, when it is online.
  void dispatch(const AgentRecord* origin);
  // The last stage's `completed` for one of ours (anything else is counted and dropped).
  void complete(const AgentRecord& from, wire::Completed::Reader completed, std::span<zmq::message_t> tensorFrames);
  // Fails the requests whose deadline passed.
  void expire();

 private:
  struct PendingInfer {
    std::string operatorId;
    uint64_t operatorRequestId = 0;
    Clock::time_point started;
    Clock::time_point deadline;
    std::vector<proto::WireTensor> inputs;
    bool submitted = false;
  };

  // Forgets the request and tells watchers how it ended (`failure` empty: a result).
  void finish(uint64_t requestId, const std::string& failure, uint64_t epoch, double seconds,
              const std::vector<std::string>& zeroedInputs = {});

  const config::ModelBundle& bundle_;
  ControlServer& server_;
  Watchers& watchers_;
  DaemonCounters& counters_;
  proto::TensorLimits limits_;
  uint64_t nextRequestId_ = 0;
  std::map<uint64_t, PendingInfer> pending_;
};

}  // namespace cleave::daemon

// A real fleet for integration tests: keys in a temporary folder, cleaved and one cleave-agent
// per device as separate processes on 127.0.0.1 (ephemeral ports, CURVE on), and an operator
// client speaking the operator protocol. Processes are killed and reaped when the harness goes.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <zmq.hpp>

#include "proto/control.capnp.h"
#include "proto/key_files.h"
#include "proto/tensor_frame.h"
#include "runtime/result.h"
#include "runtime/tensor.h"

namespace cleave::testing {

using namespace std::chrono_literals;

// CLEAVE_TEST_TIME_SCALE (default 1): sanitizer runs slow everything down 5-15x, so they set it
// and the harness multiplies the topology's heartbeat_timeout and stall_timeout by it. A failure
// that only goes away with it is still a failure at full speed: the ordinary suite runs at 1.
double testTimeScale();

// A child process; killed (SIGKILL) and reaped on destruction unless it already ended.
class Process {
 public:
  static Result<Process> spawn(const std::vector<std::string>& argv, const std::string& logFile);
  Process(Process&& other) noexcept : pid_(other.pid_) { other.pid_ = -1; }
  Process& operator=(Process&& other) noexcept;
  ~Process();

  int pid() const { return pid_; }
  void kill(int signal);
  // Waits (bounded) for the process to end; its exit status, or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  bool running();

 private:
  explicit Process(int pid) : pid_(pid) {}
  int pid_ = -1;
};

// Replies to one operator request: the reply message and its tensor frames.
struct OperatorReply {
  std::vector<zmq::message_t> frames;  // frame 0: the ControlMessage
};

// cleavectl's side of the operator socket, for tests.
class OperatorClient {
 public:
  // Connects with the given key pair and says hello; fails when the daemon does not accept.
  static Result<std::unique_ptr<OperatorClient>> connect(zmq::context_t& context, const std::string& endpoint,
                                                         const proto::CurveKeyPair& own,
                                                         const std::string& daemonPublicKey);
  // Sends a request built by `fill` (and tensor frames); returns its id.
  uint64_t send(const std::function<void(wire::OperatorRequest::Builder)>& fill,
                std::vector<zmq::message_t> extra = {});
  // The next reply of any request, or nullopt after `timeout`.
  std::optional<OperatorReply> receive(std::chrono::milliseconds timeout);
  // Sends and waits for the final reply of that request (others received meanwhile are kept).
  Result<OperatorReply> call(const std::function<void(wire::OperatorRequest::Builder)>& fill,
                             std::chrono::milliseconds timeout = 10s);
  uint64_t infer(const Tensor& input, double timeoutSeconds = 30);
  zmq::socket_t& socket() { return socket_; }

 private:
  zmq::socket_t socket_;
  uint64_t nextId_ = 0;
};

class FleetHarness {
 public:
  // Copies `topology` into a temporary folder (its bundle made absolute), writes every key, and
  // starts the daemon. Agents start with startAgent.
  static Result<std::unique_ptr<FleetHarness>> start(const std::string& topology);
  ~FleetHarness();

  // Starts `name`'s agent; `keysDir` (default: the fleet's) holds the NAME.pub/.secret it uses.
  // `extraToml` is appended to its agent.toml (e.g. [[shape]] tables).
  Status startAgent(const std::string& name, const std::string& keysDir = "keys", const std::string& extraToml = "");
  void killAgent(const std::string& name, int signal);
  // `name`'s agent process, or nullptr when it was never started.
  Process* agent(const std::string& name);
  const std::filesystem::path& dir() const { return dir_; }
  const std::string& controlEndpoint() const { return control_; }
  const std::string& operatorEndpoint() const { return operator_; }
  proto::CurveKeyPair keys(const std::string& name) const;
  std::string daemonPublicKey() const { return keys("daemon").publicKey; }
  Process* daemon() { return daemon_ ? &*daemon_ : nullptr; }
  // The tail of a process's log, for failure messages.
  std::string logTail(const std::string& name, size_t lines = 30) const;
  std::vector<std::string> devices() const { return devices_; }

 private:
  std::filesystem::path dir_;
  std::string control_, operator_;
  std::vector<std::string> devices_;
  std::map<std::string, std::string> deviceTables_;  // the [device] table of each agent.toml
  std::optional<Process> daemon_;
  std::map<std::string, Process> agents_;
};

// An operator client of `fleet`'s daemon with the fleet's operator key (REQUIREs it connects).
std::unique_ptr<OperatorClient> connectOperator(zmq::context_t& context, FleetHarness& fleet);

// Waits (asking `agents`, up to 10 s) until every online agent runs plan `epoch`, so requests
// sent from now on run under it.
void waitForEpoch(OperatorClient& op, uint64_t epoch);

// Fashion-MNIST test images [1, 1, 28, 28] (the fmnist_testset_export fixture's) and what the
// single-process runtime makes of them with `bundle`: what every fleet result must equal.
struct Reference {
  std::vector<Tensor> inputs, outputs;
};
Reference fmnistReference(const std::string& bundle, size_t count);

// The one output tensor of an inferResult reply (REQUIREs its shape of message).
Tensor inferOutput(const OperatorReply& reply, wire::OperatorReply::Reader decoded);

// The frames of a reply as an OperatorReply reader (valid while `decoded` lives).
struct DecodedReply {
  std::optional<proto::DecodedMessage> message;
  wire::OperatorReply::Reader reply;
};
Result<DecodedReply> decodeReply(const OperatorReply& reply);

}  // namespace cleave::testing

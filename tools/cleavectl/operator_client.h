// The operator's side of the daemon's operator API (docs/protocol.md, "Operator API"): where the
// daemon is and which keys to use (--daemon/--key or a `cleavectl up` state folder), a CURVE
// DEALER session that says hello and then exchanges operatorRequest/operatorReply by id, and the
// small files a state folder holds.
#pragma once

#include <signal.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
#include <zmq.hpp>

#include "proto/control.capnp.h"
#include "proto/key_files.h"
#include "proto/message_codec.h"
#include "runtime/result.h"

namespace cleave::cli {

// Replies can be larger than agent control messages (an `agents` list of up to 1024 entries
// with profiles), so the operator side reads them under a wider bound than CONTROL_LIMITS. The
// daemon is authenticated by its CURVE key, but its bytes are still decoded defensively.
constexpr proto::DecodeLimits OPERATOR_REPLY_LIMITS{1 << 20, 4 * ((1 << 20) / 8), 16};
constexpr double DEFAULT_TIMEOUT_SECONDS = 10.0;
constexpr double MAX_TIMEOUT_SECONDS = 24 * 3600.0;

// How to reach the daemon, as given on the command line.
struct ConnectionOptions {
  std::string daemon;     // --daemon ENDPOINT: the daemon's operator endpoint
  std::string key;        // --key FILE: the operator's secret key file
  std::string daemonKey;  // --daemon-key FILE; empty: daemon.pub in the folder of --key
  std::string state;      // --state DIR: a fleet started by `cleavectl up` (excludes the three above)
  double timeoutSeconds = DEFAULT_TIMEOUT_SECONDS;  // --timeout: the longest wait for one reply
};

// Everything a session needs, read and checked.
struct OperatorTarget {
  std::string endpoint;
  proto::CurveKeyPair keys;     // the operator's pair (public derived from the secret)
  std::string daemonPublicKey;  // Z85
};

// The files of a state folder. `endpoints` is written by the daemon (--endpoints-file), the rest
// by `cleavectl up`.
struct StatePaths {
  std::string dir;
  std::string endpoints;  // control=..., operator=...
  std::string fleet;      // config=..., name=..., operator_key=...
  std::string pids;       // one "NAME PID START" line per process `up` started
  std::string keys;       // key files of the daemon, every device and the operators
  std::string agents;     // agents/<device>.toml
  std::string logs;       // logs/daemon.log, logs/<device>.log
};
StatePaths statePaths(const std::string& dir);

// The operator key a state folder's clients use when its fleet file names none.
constexpr const char* DEFAULT_OPERATOR_KEY = "operator";

// KEY=VALUE lines; blank lines and lines starting with '#' are skipped. Errors name
// `nameForErrors`:LINE. A key given twice is an error.
Result<std::map<std::string, std::string>> parseKeyValueLines(std::string_view text, const std::string& nameForErrors);
Result<std::map<std::string, std::string>> readKeyValueFile(const std::string& path);
// Writes KEY=VALUE lines to a temporary file beside `path` and renames it into place, so a
// reader never sees half a file.
Status writeFileAtomically(const std::string& path, const std::string& text);

// "tcp://HOST:PORT" or "ipc://PATH"; anything else is refused with the option's name.
Status checkEndpoint(std::string_view endpoint, std::string_view option);
// Parses --timeout (seconds, > 0).
Result<double> parseTimeout(const std::string& text);

// Reads and checks the keys and endpoint the options name. Errors are one line each and say
// what to pass instead.
Result<OperatorTarget> resolveTarget(const ConnectionOptions& options);

// A duration for messages: "10 s", "1.5 s", "0.25 s".
std::string secondsText(double seconds);

// One operatorReply from the daemon. `reply` reads into `message`; `frames` are the raw frames
// after the Cap'n Proto frame (the output tensors of an inferResult).
struct OperatorReplyMessage {
  proto::DecodedMessage message;
  wire::OperatorReply::Reader reply;
  std::vector<zmq::message_t> frames;
};

// Self-pipe for SIGINT and SIGTERM while it lives: the handlers write a byte to a pipe whose
// read end a poll loop watches, so a signal that arrives just before the loop blocks is not
// lost (a flag checked before zmq_poll would be). The previous handlers come back on
// destruction. One may live at a time (signal handlers are process-wide).
class SignalPipe {
 public:
  static Result<std::unique_ptr<SignalPipe>> install();
  ~SignalPipe();
  SignalPipe(const SignalPipe&) = delete;
  SignalPipe& operator=(const SignalPipe&) = delete;

  int fd() const { return readFd_; }
  // The signal received, if any (read from the pipe without blocking).
  std::optional<int> received();

 private:
  SignalPipe() = default;
  int readFd_ = -1;
  int writeFd_ = -1;
  std::optional<int> received_;
  struct sigaction savedInt_ {};  // the previous actions, restored on destruction
  struct sigaction savedTerm_ {};
};

// Fills an operatorRequest's union member and appends the frames that follow the Cap'n Proto
// frame (an infer's input tensors). An error aborts the send.
using RequestFill = std::function<Status(wire::OperatorRequest::Builder request, std::vector<zmq::message_t>& frames)>;

// A session with the daemon's operator endpoint: CURVE DEALER, hello{role operator} and
// helloReply, then requests by id. Single-threaded; the zmq context is its own.
class OperatorClient {
 public:
  // Connects and exchanges hello/helloReply, waiting up to `timeoutSeconds` for the reply.
  // The daemon is silent to a client whose CURVE handshake fails (wrong keys), so no reply is
  // reported as "no reply from ENDPOINT within N s (wrong key or daemon not running?)"; a ZAP
  // refusal of our key, which libzmq does report, fails at once.
  static Result<std::unique_ptr<OperatorClient>> connect(const OperatorTarget& target, double timeoutSeconds,
                                                         const std::string& name = "cleavectl");
  ~OperatorClient();
  OperatorClient(const OperatorClient&) = delete;
  OperatorClient& operator=(const OperatorClient&) = delete;

  // Sends operatorRequest{id, ...} as `fill` makes it. Returns the id (1, 2, ... per session).
  Result<uint64_t> send(const RequestFill& fill);

  // The next operatorReply (of any id), waiting at most `timeoutSeconds` (negative: no limit).
  // nullopt when `interruptFd` (a SignalPipe's) became readable first. Errors: the timeout, the
  // daemon closing the connection, an undecodable message, or `unimplemented` (the daemon does
  // not handle the request). `what` names the awaited reply in errors ("status").
  Result<std::optional<OperatorReplyMessage>> receive(double timeoutSeconds, std::string_view what,
                                                      int interruptFd = -1);

  // As receive, but waiting `timeoutSeconds` without a reply is not an error: nullopt.
  Result<std::optional<OperatorReplyMessage>> poll(double timeoutSeconds, int interruptFd = -1);

  // send() then receive() until the reply with that id arrives; an `error` reply becomes an
  // Error("daemon: ..."). Replies to other ids are skipped.
  Result<OperatorReplyMessage> request(const RequestFill& fill, std::string_view what);

  const std::string& endpoint() const { return endpoint_; }
  double timeoutSeconds() const { return timeoutSeconds_; }

 private:
  OperatorClient() = default;
  Status sendHello(const std::string& name);
  Result<std::optional<OperatorReplyMessage>> receiveReply(double timeoutSeconds, std::string_view what,
                                                           int interruptFd, bool timeoutIsError);
  void readMonitorEvents();
  std::string silenceMessage(double waitedSeconds) const;

  std::string endpoint_;
  double timeoutSeconds_ = DEFAULT_TIMEOUT_SECONDS;
  uint64_t nextId_ = 1;
  // Declared first so it is destroyed last: sockets must close before their context terminates.
  std::unique_ptr<zmq::context_t> context_;
  zmq::socket_t socket_;
  zmq::socket_t monitor_;  // PAIR reading the socket monitor's events
  // What the monitor saw; turns "no reply" into a precise error where libzmq tells us.
  bool handshakeSucceeded_ = false;
  int refusedByServer_ = 0;    // ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: the daemon's ZAP said no
  int handshakeFailures_ = 0;  // other handshake failures we saw
  bool disconnectedDuringHandshake_ = false;
  bool disconnectedAfterHandshake_ = false;
};

// Error text for an error reply (bounded, control characters replaced).
std::string replyErrorText(wire::OperatorReply::Reader reply);

// Text from the daemon made safe to print: at most `maxBytes`, control characters as '?'.
std::string printable(capnp::Text::Reader text, size_t maxBytes = 256);

}  // namespace cleave::cli

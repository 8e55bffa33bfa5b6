#include "tools/cleavectl/operator_client.h"

#include <capnp/message.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <zmq_addon.hpp>

#include "proto/common.capnp.h"
#include "proto/secure_socket.h"

namespace cleave::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Heartbeats at the ZMTP level (answered by libzmq's I/O thread, not the daemon's loop) let a
// dead daemon host be noticed as a disconnect even when no TCP reset ever arrives.
constexpr int HEARTBEAT_INTERVAL_MS = 1000;
constexpr int HEARTBEAT_TIMEOUT_MS = 5000;
constexpr size_t MAX_ERROR_TEXT = 1024;  // OperatorReply.error's bound

// The write end of the live SignalPipe, for the async-signal-safe handler.
std::atomic<int> signalWriteFd{-1};

void onSignal(int signal) {
  int fd = signalWriteFd.load();
  if (fd < 0) return;
  const int saved = errno;
  unsigned char byte = static_cast<unsigned char>(signal);
  ssize_t ignored = ::write(fd, &byte, 1);  // a full pipe already holds a wake-up
  (void)ignored;
  errno = saved;
}

std::string trim(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t\r");
  if (begin == std::string_view::npos) return "";
  size_t end = text.find_last_not_of(" \t\r");
  return std::string(text.substr(begin, end - begin + 1));
}

Result<std::string> readWholeFile(const std::string& path, size_t maxBytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{fmt::format("{}: cannot open file: {}", path, std::strerror(errno))};
  std::string text;
  char buffer[4096];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > maxBytes) return Error{fmt::format("{}: larger than {} bytes", path, maxBytes)};
  }
  return text;
}

Result<OperatorTarget> targetFromState(const ConnectionOptions& options) {
  if (!options.daemon.empty() || !options.key.empty() || !options.daemonKey.empty())
    return Error{"--state takes the endpoint and keys from the state folder: drop --daemon, --key and --daemon-key"};
  StatePaths paths = statePaths(options.state);
  std::error_code ec;
  if (!fs::is_directory(paths.dir, ec))
    return Error{fmt::format("--state {}: no such folder (`cleavectl up CONFIG` creates it)", options.state)};
  if (!fs::exists(paths.endpoints, ec))
    return Error{fmt::format("{}: not found: the fleet is not running (start it with `cleavectl up CONFIG --state {}`)",
                             paths.endpoints, options.state)};
  Result<std::map<std::string, std::string>> endpoints = readKeyValueFile(paths.endpoints);
  if (!endpoints) return endpoints.error();
  auto found = endpoints->find("operator");
  if (found == endpoints->end()) return Error{fmt::format("{}: no 'operator=' line", paths.endpoints)};
  CLEAVE_TRY(checkEndpoint(found->second, paths.endpoints + ": operator"));

  std::string keyName = DEFAULT_OPERATOR_KEY;
  if (fs::exists(paths.fleet, ec)) {
    Result<std::map<std::string, std::string>> fleet = readKeyValueFile(paths.fleet);
    if (!fleet) return fleet.error();
    if (auto name = fleet->find("operator_key"); name != fleet->end()) keyName = name->second;
  }
  CLEAVE_TRY(proto::checkKeyName(keyName));
  OperatorTarget target;
  target.endpoint = found->second;
  proto::KeyFilePaths own = proto::keyFilePaths(paths.keys, keyName);
  Result<std::string> secret = proto::readSecretKeyFile(own.secretPath);
  if (!secret) return secret.error();
  Result<std::string> pub = proto::publicKeyFromSecret(*secret);
  if (!pub) return Error{fmt::format("{}: {}", own.secretPath, pub.error().message)};
  target.keys = {*pub, *secret};
  Result<std::string> daemonKey = proto::readPublicKeyFile(proto::keyFilePaths(paths.keys, "daemon").publicPath);
  if (!daemonKey) return daemonKey.error();
  target.daemonPublicKey = *daemonKey;
  return target;
}

}  // namespace

StatePaths statePaths(const std::string& dir) {
  fs::path base(dir);
  return {dir,
          (base / "endpoints").string(),
          (base / "fleet").string(),
          (base / "pids").string(),
          (base / "keys").string(),
          (base / "agents").string(),
          (base / "logs").string()};
}

Result<std::map<std::string, std::string>> parseKeyValueLines(std::string_view text, const std::string& nameForErrors) {
  std::map<std::string, std::string> values;
  size_t lineNumber = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string line = trim(text.substr(start, end - start));
    start = end + 1;
    ++lineNumber;
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos || eq == 0)
      return Error{fmt::format("{}:{}: expected KEY=VALUE, found '{}'", nameForErrors, lineNumber, line)};
    std::string key = trim(line.substr(0, eq));
    std::string value = trim(line.substr(eq + 1));
    if (!values.emplace(key, value).second)
      return Error{fmt::format("{}:{}: '{}' given twice", nameForErrors, lineNumber, key)};
  }
  return values;
}

Result<std::map<std::string, std::string>> readKeyValueFile(const std::string& path) {
  constexpr size_t MAX_BYTES = 64 * 1024;  // these files hold a handful of lines
  Result<std::string> text = readWholeFile(path, MAX_BYTES);
  if (!text) return text.error();
  return parseKeyValueLines(*text, path);
}

Status writeFileAtomically(const std::string& path, const std::string& text) {
  const std::string temporary = fmt::format("{}.tmp.{}", path, ::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return Error{fmt::format("{}: cannot write: {}", temporary, std::strerror(errno))};
    out << text;
    out.flush();
    if (!out) return Error{fmt::format("{}: cannot write: {}", temporary, std::strerror(errno))};
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) {
    fs::remove(temporary, ec);
    return Error{fmt::format("{}: cannot rename into place: {}", path, ec.message())};
  }
  return {};
}

Status checkEndpoint(std::string_view endpoint, std::string_view option) {
  static const std::regex PATTERN(R"((tcp://[^\s:]+:\d+|ipc://\S+))");
  if (!std::regex_match(endpoint.begin(), endpoint.end(), PATTERN))
    return Error{fmt::format("{}: '{}' is not a ZeroMQ endpoint such as tcp://127.0.0.1:7702", option, endpoint)};
  return {};
}

Result<double> parseTimeout(const std::string& text) {
  const char* begin = text.c_str();
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(begin, &end);
  if (text.empty() || end != begin + text.size() || errno == ERANGE)
    return Error{fmt::format("--timeout: '{}' is not a number of seconds", text)};
  if (!std::isfinite(value) || value <= 0.0 || value > MAX_TIMEOUT_SECONDS)
    return Error{fmt::format("--timeout: {} is out of range; give more than 0 and at most {:g} seconds", text,
                             MAX_TIMEOUT_SECONDS)};
  return value;
}

Result<OperatorTarget> resolveTarget(const ConnectionOptions& options) {
  if (!options.state.empty()) return targetFromState(options);
  if (options.daemon.empty()) {
    if (!options.key.empty()) return Error{"--key needs --daemon ENDPOINT (the daemon's operator endpoint)"};
    return Error{
        "say where the daemon is: --daemon ENDPOINT --key FILE, or --state DIR of a fleet from `cleavectl up`"};
  }
  CLEAVE_TRY(checkEndpoint(options.daemon, "--daemon"));
  if (options.key.empty())
    return Error{
        "--daemon needs --key FILE: the operator's secret key (`cleavectl keygen operator --out DIR` writes one)"};
  OperatorTarget target;
  target.endpoint = options.daemon;
  Result<std::string> secret = proto::readSecretKeyFile(options.key);
  if (!secret) return secret.error();
  Result<std::string> pub = proto::publicKeyFromSecret(*secret);
  if (!pub) return Error{fmt::format("{}: {}", options.key, pub.error().message)};
  target.keys = {*pub, *secret};
  std::string daemonKeyPath = options.daemonKey;
  if (daemonKeyPath.empty()) daemonKeyPath = (fs::path(options.key).parent_path() / "daemon.pub").string();
  Result<std::string> daemonKey = proto::readPublicKeyFile(daemonKeyPath);
  if (!daemonKey) {
    if (options.daemonKey.empty())
      return Error{daemonKey.error().message + " (the daemon's public key; pass --daemon-key FILE)"};
    return daemonKey.error();
  }
  target.daemonPublicKey = *daemonKey;
  return target;
}

std::string secondsText(double seconds) { return fmt::format("{:g} s", seconds); }

std::string printable(capnp::Text::Reader text, size_t maxBytes) {
  std::string out(text.cStr(), std::min<size_t>(text.size(), maxBytes));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  if (text.size() > maxBytes) out += "...";
  return out;
}

std::string replyErrorText(wire::OperatorReply::Reader reply) {
  if (reply.which() != wire::OperatorReply::ERROR) return "";
  return printable(reply.getError(), MAX_ERROR_TEXT);
}

// --- SignalPipe --------------------------------------------------------------------------------

Result<std::unique_ptr<SignalPipe>> SignalPipe::install() {
  if (signalWriteFd.load() >= 0) return Error{"a signal pipe is already installed"};
  std::unique_ptr<SignalPipe> pipe(new SignalPipe());
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return Error{fmt::format("pipe: {}", std::strerror(errno))};
  pipe->readFd_ = fds[0];
  pipe->writeFd_ = fds[1];
  signalWriteFd.store(fds[1]);
  struct sigaction action {};
  action.sa_handler = onSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: a blocked poll returns EINTR and the loop looks at the pipe
  // Installed even when SIGINT was inherited as ignored (a background job of a script): the
  // command's contract is to stop cleanly on SIGINT, and tests send it that way.
  sigaction(SIGINT, &action, &pipe->savedInt_);
  sigaction(SIGTERM, &action, &pipe->savedTerm_);
  return pipe;
}

SignalPipe::~SignalPipe() {
  sigaction(SIGINT, &savedInt_, nullptr);
  sigaction(SIGTERM, &savedTerm_, nullptr);
  signalWriteFd.store(-1);
  ::close(readFd_);
  ::close(writeFd_);
}

std::optional<int> SignalPipe::received() {
  unsigned char byte = 0;
  while (::read(readFd_, &byte, 1) == 1)
    if (!received_) received_ = byte;
  return received_;
}

// --- OperatorClient ----------------------------------------------------------------------------

Result<std::unique_ptr<OperatorClient>> OperatorClient::connect(const OperatorTarget& target, double timeoutSeconds,
                                                                const std::string& name) {
  std::unique_ptr<OperatorClient> client(new OperatorClient());
  client->endpoint_ = target.endpoint;
  client->timeoutSeconds_ = timeoutSeconds;
  client->context_ = std::make_unique<zmq::context_t>();
  Result<zmq::socket_t> socket =
      proto::makeCurveClient(*client->context_, zmq::socket_type::dealer, target.keys, target.daemonPublicKey);
  if (!socket) return socket.error();
  client->socket_ = std::move(*socket);
  try {
    // Pipelined requests (`infer --repeat`) and their replies must not be dropped at a
    // high-water mark; the counts are bounded by the commands themselves.
    client->socket_.set(zmq::sockopt::sndhwm, 0);
    client->socket_.set(zmq::sockopt::rcvhwm, 0);
    client->socket_.set(zmq::sockopt::heartbeat_ivl, HEARTBEAT_INTERVAL_MS);
    client->socket_.set(zmq::sockopt::heartbeat_timeout, HEARTBEAT_TIMEOUT_MS);
    const std::string monitorEndpoint = fmt::format("inproc://cleavectl-monitor-{}", fmt::ptr(client.get()));
    if (zmq_socket_monitor(client->socket_.handle(), monitorEndpoint.c_str(),
                           ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0)
      return Error{fmt::format("cannot monitor the operator socket: {}", zmq_strerror(zmq_errno()))};
    client->monitor_ = zmq::socket_t(*client->context_, zmq::socket_type::pair);
    client->monitor_.set(zmq::sockopt::linger, 0);
    client->monitor_.connect(monitorEndpoint);
    client->socket_.connect(target.endpoint);
  } catch (const zmq::error_t& e) {
    return Error{fmt::format("cannot connect to {}: {}", target.endpoint, e.what())};
  }
  CLEAVE_TRY(client->sendHello(name));

  // The helloReply. Anything else before it is a daemon bug; it is skipped, not trusted.
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeoutSeconds);
  while (true) {
    double left = std::chrono::duration<double>(deadline - Clock::now()).count();
    if (left <= 0) return Error{client->silenceMessage(timeoutSeconds)};
    std::vector<zmq::pollitem_t> items = {{client->socket_.handle(), 0, ZMQ_POLLIN, 0},
                                          {client->monitor_.handle(), 0, ZMQ_POLLIN, 0}};
    int ready = zmq_poll(items.data(), static_cast<int>(items.size()), static_cast<long>(std::ceil(left * 1000)));
    if (ready < 0) {
      if (zmq_errno() == EINTR) continue;
      return Error{fmt::format("poll: {}", zmq_strerror(zmq_errno()))};
    }
    if (items[1].revents & ZMQ_POLLIN) client->readMonitorEvents();
    if (client->refusedByServer_ > 0)
      return Error{
          fmt::format("the daemon at {} refused this operator key (is its public key among the topology's "
                      "[fleet] operators, in the daemon's keys folder?)",
                      client->endpoint_)};
    if (!(items[0].revents & ZMQ_POLLIN)) continue;
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(client->socket_, std::back_inserter(frames), zmq::recv_flags::dontwait)) continue;
    if (frames.empty()) continue;
    Result<proto::DecodedMessage> decoded = proto::DecodedMessage::fromFrame(frames[0], OPERATOR_REPLY_LIMITS);
    if (!decoded)
      return Error{fmt::format("{}: undecodable helloReply: {}", client->endpoint_, decoded.error().message)};
    Result<wire::ControlMessage::Reader> root = decoded->root<wire::ControlMessage>();
    if (!root) return Error{fmt::format("{}: undecodable helloReply: {}", client->endpoint_, root.error().message)};
    // true: accepted; false: not a helloReply (skipped).
    Result<bool> hello = proto::decodeGuard("helloReply", [&]() -> Result<bool> {
      if (root->which() == wire::ControlMessage::UNIMPLEMENTED)
        return Error{fmt::format("the daemon at {} does not handle hello (not a cleave daemon's operator endpoint?)",
                                 client->endpoint_)};
      if (root->which() != wire::ControlMessage::HELLO_REPLY) return false;
      wire::HelloReply::Reader reply = root->getHelloReply();
      if (!reply.getAccepted())
        return Error{fmt::format(
            "the daemon at {} refused the session: {} (it speaks protocol version {}, we speak {})", client->endpoint_,
            printable(reply.getReason()), reply.getProtocolVersion(), wire::PROTOCOL_VERSION)};
      return true;
    });
    if (!hello) return hello.error();
    if (!*hello) continue;
    return client;
  }
}

OperatorClient::~OperatorClient() {
  if (socket_.handle() != nullptr) zmq_socket_monitor(socket_.handle(), nullptr, 0);
  monitor_.close();
  socket_.close();
}

Status OperatorClient::sendHello(const std::string& name) {
  capnp::MallocMessageBuilder builder;
  wire::Hello::Builder hello = builder.initRoot<wire::ControlMessage>().initHello();
  hello.setProtocolVersion(wire::PROTOCOL_VERSION);
  hello.setRole(wire::Hello::Role::OPERATOR);
  hello.setName(name);
  hello.setSoftware("cleavectl");
  try {
    // With the default ZMQ_IMMEDIATE = 0 the message waits in the pipe until the handshake is
    // done, so sending right after connect() is fine.
    if (!socket_.send(proto::encodeMessage(builder), zmq::send_flags::dontwait))
      return Error{fmt::format("cannot queue hello for {}", endpoint_)};
  } catch (const zmq::error_t& e) {
    return Error{fmt::format("cannot send to {}: {}", endpoint_, e.what())};
  }
  return {};
}

void OperatorClient::readMonitorEvents() {
  while (true) {
    std::vector<zmq::message_t> event;
    if (!zmq::recv_multipart(monitor_, std::back_inserter(event), zmq::recv_flags::dontwait)) return;
    if (event.size() != 2 || event[0].size() < sizeof(uint16_t)) continue;
    uint16_t id = 0;
    std::memcpy(&id, event[0].data(), sizeof id);
    switch (id) {
      case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        handshakeSucceeded_ = true;
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        ++refusedByServer_;
        break;
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        ++handshakeFailures_;
        break;
      case ZMQ_EVENT_DISCONNECTED:
        (handshakeSucceeded_ ? disconnectedAfterHandshake_ : disconnectedDuringHandshake_) = true;
        break;
      default:
        break;
    }
  }
}

std::string OperatorClient::silenceMessage(double waitedSeconds) const {
  std::string message = fmt::format("no reply from {} within {}", endpoint_, secondsText(waitedSeconds));
  // A server that cannot decrypt our HELLO (we hold the wrong daemon key) just hangs up.
  if (!handshakeSucceeded_ && (handshakeFailures_ > 0 || disconnectedDuringHandshake_))
    return message + " (the CURVE handshake failed: wrong daemon public key, or not a cleave daemon?)";
  return message + " (wrong key or daemon not running?)";
}

Result<uint64_t> OperatorClient::send(const RequestFill& fill) {
  capnp::MallocMessageBuilder builder;
  wire::OperatorRequest::Builder request = builder.initRoot<wire::ControlMessage>().initOperatorRequest();
  const uint64_t id = nextId_++;
  request.setId(id);
  std::vector<zmq::message_t> frames;
  CLEAVE_TRY(fill(request, frames));
  try {
    const bool more = !frames.empty();
    if (!socket_.send(proto::encodeMessage(builder), more ? zmq::send_flags::sndmore : zmq::send_flags::none))
      return Error{fmt::format("cannot send to {}", endpoint_)};
    for (size_t i = 0; i < frames.size(); ++i)
      if (!socket_.send(frames[i], i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none))
        return Error{fmt::format("cannot send to {}", endpoint_)};
  } catch (const zmq::error_t& e) {
    return Error{fmt::format("cannot send to {}: {}", endpoint_, e.what())};
  }
  return id;
}

Result<std::optional<OperatorReplyMessage>> OperatorClient::receive(double timeoutSeconds, std::string_view what,
                                                                    int interruptFd) {
  return receiveReply(timeoutSeconds, what, interruptFd, true);
}

Result<std::optional<OperatorReplyMessage>> OperatorClient::poll(double timeoutSeconds, int interruptFd) {
  return receiveReply(timeoutSeconds, "a reply", interruptFd, false);
}

Result<std::optional<OperatorReplyMessage>> OperatorClient::receiveReply(double timeoutSeconds, std::string_view what,
                                                                         int interruptFd, bool timeoutIsError) {
  const bool limited = timeoutSeconds >= 0;
  const auto deadline = Clock::now() + std::chrono::duration<double>(limited ? timeoutSeconds : 0.0);
  while (true) {
    long waitMs = -1;
    if (limited) {
      double left = std::chrono::duration<double>(deadline - Clock::now()).count();
      if (left <= 0 && !timeoutIsError) return std::optional<OperatorReplyMessage>();
      if (left <= 0)
        return Error{fmt::format("no reply to {} from {} within {}", what, endpoint_, secondsText(timeoutSeconds))};
      waitMs = static_cast<long>(std::ceil(left * 1000));
    }
    std::vector<zmq::pollitem_t> items = {{socket_.handle(), 0, ZMQ_POLLIN, 0}, {monitor_.handle(), 0, ZMQ_POLLIN, 0}};
    if (interruptFd >= 0) items.push_back({nullptr, interruptFd, ZMQ_POLLIN, 0});
    int ready = zmq_poll(items.data(), static_cast<int>(items.size()), waitMs);
    if (ready < 0) {
      if (zmq_errno() == EINTR) continue;  // a signal: its byte is in the pipe, the next poll sees it
      return Error{fmt::format("poll: {}", zmq_strerror(zmq_errno()))};
    }
    if (interruptFd >= 0 && (items[2].revents & ZMQ_POLLIN)) return std::optional<OperatorReplyMessage>();
    if (items[1].revents & ZMQ_POLLIN) readMonitorEvents();
    // Replies already queued are still read after a disconnect: only an empty socket fails.
    if (!(items[0].revents & ZMQ_POLLIN)) {
      if (disconnectedAfterHandshake_)
        return Error{
            fmt::format("the daemon at {} closed the connection (waiting for the reply to {})", endpoint_, what)};
      continue;
    }
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(socket_, std::back_inserter(frames), zmq::recv_flags::dontwait) || frames.empty())
      continue;
    Result<proto::DecodedMessage> decoded = proto::DecodedMessage::fromFrame(frames[0], OPERATOR_REPLY_LIMITS);
    if (!decoded) return Error{fmt::format("{}: undecodable reply: {}", endpoint_, decoded.error().message)};
    Result<wire::ControlMessage::Reader> root = decoded->root<wire::ControlMessage>();
    if (!root) return Error{fmt::format("{}: undecodable reply: {}", endpoint_, root.error().message)};
    Result<wire::ControlMessage::Which> which =
        proto::decodeGuard("reply", [&]() -> Result<wire::ControlMessage::Which> { return root->which(); });
    if (!which) return which.error();
    if (*which == wire::ControlMessage::UNIMPLEMENTED)
      return Error{fmt::format("the daemon at {} does not handle {} (unimplemented operator request {})", endpoint_,
                               what, root->getUnimplemented().getWhich())};
    if (*which != wire::ControlMessage::OPERATOR_REPLY) continue;  // not for operators; a newer daemon's extra
    OperatorReplyMessage reply{std::move(*decoded), root->getOperatorReply(), {}};
    frames.erase(frames.begin());
    reply.frames = std::move(frames);
    return std::optional<OperatorReplyMessage>(std::move(reply));
  }
}

Result<OperatorReplyMessage> OperatorClient::request(const RequestFill& fill, std::string_view what) {
  Result<uint64_t> id = send(fill);
  if (!id) return id.error();
  while (true) {
    Result<std::optional<OperatorReplyMessage>> reply = receive(timeoutSeconds_, what);
    if (!reply) return reply.error();
    if (!reply->has_value()) continue;  // no interrupt fd was given; cannot happen
    OperatorReplyMessage& message = **reply;
    Result<uint64_t> replyId = proto::decodeGuard("reply", [&]() -> Result<uint64_t> { return message.reply.getId(); });
    if (!replyId) return replyId.error();
    if (*replyId != *id) continue;
    Result<std::string> error =
        proto::decodeGuard("reply", [&]() -> Result<std::string> { return replyErrorText(message.reply); });
    if (!error) return error.error();
    if (message.reply.which() == wire::OperatorReply::ERROR) return Error{fmt::format("daemon: {}", *error)};
    return std::move(message);
  }
}

}  // namespace cleave::cli

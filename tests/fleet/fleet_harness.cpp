#include "tests/fleet/fleet_harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <capnp/message.h>
#include <fmt/format.h>
#include <doctest/doctest.h>
#include <toml++/toml.h>

#include "config/bundle.h"
#include "planner/units.h"
#include "runtime/npy.h"
#include "runtime/session.h"

#include "proto/message_codec.h"
#include "proto/multipart.h"
#include "proto/secure_socket.h"

namespace cleave::testing {

// ---------------------------------------------------------------------------------------------
// Process

Result<Process> Process::spawn(const std::vector<std::string>& argv, const std::string& logFile) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return Error{"fork failed"};
  if (pid == 0) {
    // A test that dies without unwinding (a sanitizer's halt_on_error, a crash) must not leave
    // its fleet running: the children would spin on a dead daemon and load the next tests.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // the test died before prctl took effect
    int fd = open(logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  return Process(pid);
}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    pid_ = other.pid_;
    other.pid_ = -1;
  }
  return *this;
}

Process::~Process() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void Process::kill(int signal) {
  if (pid_ > 0) ::kill(pid_, signal);
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);  // waitpid has no timeout; this bounds a busy loop
  }
}

bool Process::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Operator client

Result<std::unique_ptr<OperatorClient>> OperatorClient::connect(zmq::context_t& context, const std::string& endpoint,
                                                                const proto::CurveKeyPair& own,
                                                                const std::string& daemonPublicKey) {
  Result<zmq::socket_t> socket = proto::makeCurveClient(context, zmq::socket_type::dealer, own, daemonPublicKey);
  if (!socket) return socket.error();
  auto client = std::make_unique<OperatorClient>();
  client->socket_ = std::move(*socket);
  client->socket_.connect(endpoint);
  capnp::MallocMessageBuilder hello;
  auto h = hello.initRoot<wire::ControlMessage>().initHello();
  h.setProtocolVersion(wire::PROTOCOL_VERSION);
  h.setRole(wire::Hello::Role::OPERATOR);
  h.setName("test");
  client->socket_.send(proto::encodeMessage(hello), zmq::send_flags::none);
  std::optional<OperatorReply> reply = client->receive(10s);
  if (!reply) return Error{"no hello reply from the daemon within 10 s"};
  Result<proto::DecodedMessage> decoded = proto::DecodedMessage::fromFrame(reply->frames[0], proto::CONTROL_LIMITS);
  if (!decoded) return decoded.error();
  Result<wire::ControlMessage::Reader> root = decoded->root<wire::ControlMessage>();
  if (!root || !root->isHelloReply() || !root->getHelloReply().getAccepted()) return Error{"hello refused"};
  return client;
}

uint64_t OperatorClient::send(const std::function<void(wire::OperatorRequest::Builder)>& fill,
                              std::vector<zmq::message_t> extra) {
  capnp::MallocMessageBuilder message;
  auto request = message.initRoot<wire::ControlMessage>().initOperatorRequest();
  uint64_t id = ++nextId_;
  request.setId(id);
  fill(request);
  socket_.send(proto::encodeMessage(message), extra.empty() ? zmq::send_flags::none : zmq::send_flags::sndmore);
  for (size_t i = 0; i < extra.size(); ++i)
    socket_.send(extra[i], i + 1 < extra.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  return id;
}

std::optional<OperatorReply> OperatorClient::receive(std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, timeout) <= 0) return std::nullopt;
  OperatorReply reply;
  if (proto::receiveMultipart(socket_, reply.frames, 64) != proto::Received::Message) return std::nullopt;
  return reply;
}

Result<OperatorReply> OperatorClient::call(const std::function<void(wire::OperatorRequest::Builder)>& fill,
                                           std::chrono::milliseconds timeout) {
  uint64_t id = send(fill);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::optional<OperatorReply> reply =
        receive(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
    if (!reply) break;
    Result<DecodedReply> decoded = decodeReply(*reply);
    if (decoded && decoded->reply.getId() == id && decoded->reply.getFinal()) return std::move(*reply);
  }
  return Error{fmt::format("no reply to operator request {} in time", id)};
}

uint64_t OperatorClient::infer(const Tensor& input, double timeoutSeconds) {
  capnp::MallocMessageBuilder message;
  auto request = message.initRoot<wire::ControlMessage>().initOperatorRequest();
  uint64_t id = ++nextId_;
  request.setId(id);
  auto infer = request.initInfer();
  infer.setTimeoutSeconds(timeoutSeconds);
  proto::WireTensor t{"", input, std::nullopt, 1, 0};
  Result<zmq::message_t> encoded = proto::encodeTensor(t, infer.initTensors(1)[0]);
  zmq::message_t frame = std::move(encoded.value());
  socket_.send(proto::encodeMessage(message), zmq::send_flags::sndmore);
  socket_.send(frame, zmq::send_flags::none);
  return id;
}

Result<DecodedReply> decodeReply(const OperatorReply& reply) {
  if (reply.frames.empty()) return Error{"empty reply"};
  Result<proto::DecodedMessage> decoded = proto::DecodedMessage::fromFrame(reply.frames[0], proto::CONTROL_LIMITS);
  if (!decoded) return decoded.error();
  DecodedReply out;
  out.message.emplace(std::move(*decoded));
  Result<wire::ControlMessage::Reader> root = out.message->root<wire::ControlMessage>();
  if (!root) return root.error();
  if (!root->isOperatorReply()) return Error{"not an operator reply"};
  out.reply = root->getOperatorReply();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Fleet

double testTimeScale() {
  const char* text = std::getenv("CLEAVE_TEST_TIME_SCALE");
  if (!text) return 1.0;
  char* end = nullptr;
  const double scale = std::strtod(text, &end);
  return end != text && scale >= 1.0 ? scale : 1.0;
}

namespace {

// The [fleet] timeouts of `text` multiplied by `scale` (the heartbeat itself stays: it is how
// often agents speak, not how long anyone waits).
std::string scaledTimeouts(std::string text, const toml::table& parsed, double scale) {
  if (scale == 1.0) return text;
  for (const char* key : {"heartbeat_timeout", "stall_timeout"}) {
    std::optional<std::string> value = parsed["fleet"][key].value<std::string>();
    if (!value) continue;
    Result<double> seconds = planner::parseSeconds(*value);
    if (!seconds) continue;
    text = std::regex_replace(text, std::regex(fmt::format("\\n{} = \"[^\"]*\"", key)),
                              fmt::format("\n{} = \"{:g}s\"", key, *seconds * scale));
  }
  return text;
}

}  // namespace

Result<std::unique_ptr<FleetHarness>> FleetHarness::start(const std::string& topology) {
  auto fleet = std::unique_ptr<FleetHarness>(new FleetHarness());
  char pattern[] = "/tmp/cleave-fleet-XXXXXX";
  if (!mkdtemp(pattern)) return Error{"mkdtemp failed"};
  fleet->dir_ = pattern;
  std::filesystem::create_directories(fleet->dir_ / "keys");
  std::filesystem::create_directories(fleet->dir_ / "logs");

  // The topology, with its bundle made absolute.
  std::ifstream in(topology);
  std::stringstream text;
  text << in.rdbuf();
  toml::table parsed = toml::parse(text.str(), topology);
  std::string bundle = *parsed["model"]["bundle"].value<std::string>();
  std::string absolute = (std::filesystem::path(topology).parent_path() / bundle).lexically_normal().string();
  std::string rewritten = std::regex_replace(text.str(), std::regex("bundle = \"[^\"]*\""), "bundle = \"" + absolute + "\"");
  rewritten = scaledTimeouts(rewritten, parsed, testTimeScale());
  std::ofstream(fleet->dir_ / "fleet.toml") << rewritten;

  std::vector<std::string> keyNames{"daemon", "operator", "intruder"};
  // Each agent declares its [[device]] figures, copied line by line (all but the name).
  std::istringstream lines(text.str());
  std::string line, current;
  bool inDevice = false;  // reading a [[device]] table
  while (std::getline(lines, line)) {
    if (line.rfind("[", 0) == 0) inDevice = line == "[[device]]";
    if (!inDevice || line == "[[device]]" || line.empty() || line[0] == '#') continue;
    std::smatch name;
    if (std::regex_match(line, name, std::regex(R"re(name = "([^"]*)".*)re"))) {
      current = name[1].str();
      fleet->devices_.push_back(current);
      keyNames.push_back(current);
      fleet->deviceTables_[current] = "[device]\n";
      continue;
    }
    fleet->deviceTables_[current] += line + "\n";
  }
  for (const std::string& name : keyNames) {
    Result<proto::CurveKeyPair> pair = proto::generateKeyPair();
    if (!pair) return pair.error();
    CLEAVE_TRY(proto::writeKeyFiles(*pair, (fleet->dir_ / "keys").string(), name, false));
  }

  std::string endpoints = (fleet->dir_ / "endpoints").string();
  Result<Process> daemon = Process::spawn(
      {CLEAVED_PATH, "--config", (fleet->dir_ / "fleet.toml").string(), "--keys", (fleet->dir_ / "keys").string(),
       "--control", "tcp://127.0.0.1:*", "--operator", "tcp://127.0.0.1:*", "--endpoints-file", endpoints},
      (fleet->dir_ / "logs" / "daemon.log").string());
  if (!daemon) return daemon.error();
  fleet->daemon_.emplace(std::move(*daemon));
  // The daemon writes the file once both sockets listen (atomically, by rename).
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!std::filesystem::exists(endpoints)) {
    if (!fleet->daemon_->running()) return Error{"cleaved exited:\n" + fleet->logTail("daemon")};
    if (std::chrono::steady_clock::now() > deadline) return Error{"cleaved did not listen within 20 s"};
    std::this_thread::sleep_for(10ms);  // polling a file another process creates
  }
  std::ifstream file(endpoints);
  while (std::getline(file, line)) {
    if (line.rfind("control=", 0) == 0) fleet->control_ = line.substr(8);
    if (line.rfind("operator=", 0) == 0) fleet->operator_ = line.substr(9);
  }
  return fleet;
}

FleetHarness::~FleetHarness() {
  agents_.clear();
  daemon_.reset();
  std::error_code ec;
  if (!getenv("CLEAVE_KEEP_FLEET")) std::filesystem::remove_all(dir_, ec);
}

Status FleetHarness::startAgent(const std::string& name, const std::string& keysDir, const std::string& extraToml) {
  std::string config = (dir_ / (name + ".agent.toml")).string();
  std::ofstream(config) << fmt::format(
      "name = \"{}\"\ndaemon = \"{}\"\ndaemon_key = \"keys/daemon.pub\"\nkeys = \"{}\"\n"
      "data = \"tcp://127.0.0.1:*\"\n{}\n{}",
      name, control_, keysDir, deviceTables_.at(name), extraToml);
  Result<Process> agent = Process::spawn({CLEAVE_AGENT_PATH, "--config", config},
                                         (dir_ / "logs" / (name + ".log")).string());
  if (!agent) return agent.error();
  agents_.erase(name);
  agents_.emplace(name, std::move(*agent));
  return {};
}

Process* FleetHarness::agent(const std::string& name) {
  auto it = agents_.find(name);
  return it == agents_.end() ? nullptr : &it->second;
}

void FleetHarness::killAgent(const std::string& name, int signal) {
  auto it = agents_.find(name);
  if (it == agents_.end()) return;
  it->second.kill(signal);
  it->second.wait(5s);
}

proto::CurveKeyPair FleetHarness::keys(const std::string& name) const {
  return *proto::readKeyFiles((dir_ / "keys").string(), name);
}

std::string FleetHarness::logTail(const std::string& name, size_t lines) const {
  std::ifstream in(dir_ / "logs" / (name + ".log"));
  std::vector<std::string> all;
  std::string line;
  while (std::getline(in, line)) all.push_back(line);
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += all[i] + "\n";
  return out;
}

void waitForEpoch(OperatorClient& op, uint64_t epoch) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (bool acked = false; !acked;) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "plan epoch " << epoch << " not acknowledged");
    Result<OperatorReply> agents = op.call([](wire::OperatorRequest::Builder r) { r.setAgents(); });
    REQUIRE(agents.ok());
    Result<DecodedReply> list = decodeReply(*agents);
    REQUIRE(list.ok());
    acked = true;
    for (auto agent : list->reply.getAgents())
      if (agent.getOnline() && agent.getEpoch() < epoch) acked = false;
  }
}

std::unique_ptr<OperatorClient> connectOperator(zmq::context_t& context, FleetHarness& fleet) {
  Result<std::unique_ptr<OperatorClient>> client =
      OperatorClient::connect(context, fleet.operatorEndpoint(), fleet.keys("operator"), fleet.daemonPublicKey());
  REQUIRE_MESSAGE(client.ok(), client.error().message << "\n" << fleet.logTail("daemon"));
  return std::move(*client);
}

Reference fmnistReference(const std::string& bundlePath, size_t count) {
  Reference r;
  Result<Tensor> images = readNpy(std::string(CLEAVE_BINARY_DIR) + "/data/fmnist-t10k-images.npy");
  REQUIRE_MESSAGE(images.ok(), "the fmnist_testset_export fixture writes the test images");
  Result<config::ModelBundle> bundle = config::loadBundle(bundlePath, true);
  REQUIRE(bundle.ok());
  Result<std::unique_ptr<Session>> session = Session::create(bundle->graph);
  REQUIRE(session.ok());
  for (size_t i = 0; i < count; ++i) {
    std::vector<float> pixels(images->values<float>().begin() + static_cast<ptrdiff_t>(i * 784),
                              images->values<float>().begin() + static_cast<ptrdiff_t>((i + 1) * 784));
    r.inputs.push_back(Tensor::fromVector<float>({1, 1, 28, 28}, pixels));
    Result<std::vector<Tensor>> out = (*session)->run({r.inputs.back()});
    REQUIRE(out.ok());
    r.outputs.push_back((*out)[0]);
  }
  return r;
}

Tensor inferOutput(const OperatorReply& reply, wire::OperatorReply::Reader decoded) {
  REQUIRE(decoded.isInferResult());
  auto headers = decoded.getInferResult().getTensors();
  REQUIRE(headers.size() == 1);
  REQUIRE(reply.frames.size() == 2);
  std::span<const std::byte> bytes(static_cast<const std::byte*>(reply.frames[1].data()), reply.frames[1].size());
  Result<proto::WireTensor> output = proto::decodeTensor(headers[0], bytes, proto::TensorLimits{});
  REQUIRE(output.ok());
  return output->tensor;
}

}  // namespace cleave::testing

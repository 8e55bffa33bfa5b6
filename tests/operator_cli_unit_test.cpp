// cleavectl's operator side without the real daemon: the pure helpers (PlanApply TOML, state
// folders, tables), and the session and commands against an in-process fake daemon (a CURVE
// ROUTER with its ZAP handler on 127.0.0.1, answering from a thread as the protocol says).
#include <capnp/message.h>
#include <doctest/doctest.h>

#include "tests/temp_dir.h"
#include <fmt/format.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <thread>
#include <zmq_addon.hpp>

#include "proto/key_files.h"
#include "proto/message_codec.h"
#include "proto/secure_socket.h"
#include "proto/tensor_frame.h"
#include "runtime/npy.h"
#include "tools/cleavectl/operator_client.h"
#include "tools/cleavectl/operator_commands.h"
#include "tools/cleavectl/plan_file.h"
#include "config/fleet_config.h"
#include "daemon/plan_apply.h"
#include "planner/plan_report.h"
#include "planner/planner.h"

namespace cleave::cli {
namespace {

namespace fs = std::filesystem;
using Multipart = std::vector<zmq::message_t>;

// Each test's own folder.
struct TempDir : cleave::testing::TempDir {
  TempDir() : cleave::testing::TempDir("cleavectl-ops") {}
};

// An operatorReply frame for request `id`, filled by `fill`.
zmq::message_t replyFrame(uint64_t id, bool final, const std::function<void(wire::OperatorReply::Builder)>& fill) {
  capnp::MallocMessageBuilder builder;
  wire::OperatorReply::Builder reply = builder.initRoot<wire::ControlMessage>().initOperatorReply();
  reply.setId(id);
  reply.setFinal(final);
  fill(reply);
  return proto::encodeMessage(builder);
}

// The daemon's operator socket, played by a thread: answers hello (or refuses it), then hands
// each operatorRequest and its frames to `handler`, which returns the messages to send back
// (none, one, or several: a handler may hold requests back and answer them later, in any order).
class FakeDaemon {
 public:
  using Handler = std::function<std::vector<Multipart>(wire::OperatorRequest::Reader, Multipart& frames)>;

  FakeDaemon(const std::string& allowedKey, Handler handler, std::string refuseHello = "")
      : keys_(*proto::generateKeyPair()),
        zap_(std::in_place, proto::ZapAuthenticator::create(context_).value()),
        handler_(std::move(handler)),
        refuseHello_(std::move(refuseHello)) {
    REQUIRE(zap_->allow(allowedKey).ok());
    socket_ = proto::makeCurveServer(*zap_, zmq::socket_type::router, keys_.secretKey, "operator").value();
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeDaemon() { stop(); }

  // Stops answering and closes the sockets, as when the daemon exits: the client sees the
  // connection close. (The ZAP socket goes too: while it lives, libzmq keeps a closed server's
  // connections open until the ZAP socket is polled again.)
  void stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    thread_.join();
    socket_.close();
    zap_.reset();
  }

  const std::string& endpoint() const { return endpoint_; }
  const proto::CurveKeyPair& keys() const { return keys_; }
  int requests() const { return requests_.load(); }

 private:
  void run() {
    while (!stop_) {
      std::vector<zmq::pollitem_t> items = {{socket_.handle(), 0, ZMQ_POLLIN, 0},
                                            {zap_->socket().handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, std::chrono::milliseconds(20));  // the stop flag is looked at between polls
      if (items[1].revents & ZMQ_POLLIN) zap_->handlePending();
      if (!(items[0].revents & ZMQ_POLLIN)) continue;
      Multipart frames;
      (void)zmq::recv_multipart(socket_, std::back_inserter(frames));
      if (frames.size() < 2) continue;
      std::string peer = frames[0].to_string();
      proto::DecodedMessage decoded = proto::DecodedMessage::fromFrame(frames[1], proto::CONTROL_LIMITS).value();
      wire::ControlMessage::Reader root = decoded.root<wire::ControlMessage>().value();
      Multipart rest;
      for (size_t i = 2; i < frames.size(); ++i) rest.push_back(std::move(frames[i]));
      std::vector<Multipart> replies;
      if (root.isHello()) {
        capnp::MallocMessageBuilder builder;
        wire::HelloReply::Builder reply = builder.initRoot<wire::ControlMessage>().initHelloReply();
        reply.setProtocolVersion(wire::PROTOCOL_VERSION);
        reply.setAccepted(refuseHello_.empty() && root.getHello().getRole() == wire::Hello::Role::OPERATOR);
        reply.setReason(refuseHello_);
        Multipart message;
        message.push_back(proto::encodeMessage(builder));
        replies.push_back(std::move(message));
      } else if (root.isOperatorRequest()) {
        ++requests_;
        replies = handler_(root.getOperatorRequest(), rest);
      }
      for (Multipart& reply : replies) {
        socket_.send(zmq::buffer(peer), zmq::send_flags::sndmore);
        for (size_t i = 0; i < reply.size(); ++i)
          socket_.send(reply[i], i + 1 < reply.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
      }
    }
  }

  zmq::context_t context_;
  proto::CurveKeyPair keys_;
  std::optional<proto::ZapAuthenticator> zap_;  // before the socket: it must outlive it
  zmq::socket_t socket_;
  Handler handler_;
  std::string refuseHello_;
  std::string endpoint_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

FakeDaemon::Handler statusHandler() {
  return [](wire::OperatorRequest::Reader request, Multipart&) {
    std::vector<Multipart> out(1);
    if (request.isStatus()) {
      out[0].push_back(replyFrame(request.getId(), true, [](wire::OperatorReply::Builder r) {
        wire::FleetStatus::Builder s = r.initStatus();
        s.setEpoch(4);
        s.setStrategy(wire::Strategy::SPLIT);
        s.setAgentsOnline(2);
        s.setAgentsKnown(3);
        s.setRequestsCompleted(17);
        s.setPredictedLatencySeconds(0.0123);
      }));
    } else {
      out[0].push_back(
          replyFrame(request.getId(), true, [](wire::OperatorReply::Builder r) { r.setError("not today"); }));
    }
    return out;
  };
}

// An operator key pair in DIR/operator.{pub,secret}; the daemon's public key goes to DIR/daemon.pub.
proto::CurveKeyPair writeOperatorKeys(const TempDir& dir, const proto::CurveKeyPair* daemonKeys) {
  proto::CurveKeyPair keys = *proto::generateKeyPair();
  REQUIRE(proto::writeKeyFiles(keys, dir.path.string(), "operator", false).ok());
  if (daemonKeys != nullptr) REQUIRE(proto::writeKeyFiles(*daemonKeys, dir.path.string(), "daemon", false).ok());
  return keys;
}

OperatorTarget targetFor(const FakeDaemon& daemon, const proto::CurveKeyPair& own) {
  return {daemon.endpoint(), own, daemon.keys().publicKey};
}

// A TCP port on 127.0.0.1 that is bound but not listening, for as long as the object lives:
// connections to it are refused and no one else can take it meanwhile.
struct DeadPort {
  int fd = -1;
  int port = 0;
  DeadPort() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port = ntohs(address.sin_port);
  }
  ~DeadPort() { ::close(fd); }
};

// Runs cleavectl's operator commands in-process with stdout and stderr captured.
struct CommandRun {
  int exitCode = 0;
  std::string out, err;
};

// `before` adds commands ahead of the operator commands, as main() adds `plan CONFIG`.
CommandRun runCommand(const std::vector<std::string>& args, const std::function<void(CLI::App&)>& before = {}) {
  CLI::App app{"cleavectl"};
  app.require_subcommand(1);
  CommandRun run;
  if (before) before(app);
  addOperatorCommands(app, run.exitCode);
  std::vector<const char*> argv = {"cleavectl"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  TempDir capture;
  std::fflush(stdout);
  std::fflush(stderr);
  int savedOut = ::dup(1), savedErr = ::dup(2);
  FILE* out = std::fopen((capture / "out").c_str(), "w");
  FILE* err = std::fopen((capture / "err").c_str(), "w");
  ::dup2(::fileno(out), 1);
  ::dup2(::fileno(err), 2);
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    run.exitCode = app.exit(e);
  }
  std::fflush(stdout);
  std::fflush(stderr);
  ::dup2(savedOut, 1);
  ::dup2(savedErr, 2);
  ::close(savedOut);
  ::close(savedErr);
  std::fclose(out);
  std::fclose(err);
  auto slurp = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
  };
  run.out = slurp(capture / "out");
  run.err = slurp(capture / "err");
  return run;
}

size_t lineCount(const std::string& text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')); }

// --- pure helpers ------------------------------------------------------------------------------

TEST_CASE("plan apply builds the spec's TOML, which parses back to the same route and cuts") {
  Result<std::vector<std::string>> route = parseRoute("camera, pi1,cloud");
  REQUIRE(route.ok());
  CHECK(*route == std::vector<std::string>{"camera", "pi1", "cloud"});
  Result<std::vector<int64_t>> cuts = parseCuts("2,4");
  REQUIRE(cuts.ok());
  Result<std::string> text = planApplyToml(*route, *cuts);
  REQUIRE(text.ok());
  CHECK(*text == "strategy = \"split\"\nroute = [\"camera\", \"pi1\", \"cloud\"]\ncuts = [2, 4]\n");
  toml::table parsed = toml::parse(*text);  // an independent reader of the same text
  CHECK(parsed["strategy"].value<std::string>() == "split");
  REQUIRE(parsed["route"].as_array() != nullptr);
  CHECK(parsed["route"].as_array()->size() == 3);
  CHECK(parsed["route"][2].value<std::string>() == "cloud");
  CHECK(parsed["cuts"][1].value<int64_t>() == 4);

  // One device: no cuts; a relay (equal cuts) is allowed.
  CHECK(planApplyToml({"solo"}, {}).value() == "strategy = \"split\"\nroute = [\"solo\"]\ncuts = []\n");
  CHECK(planApplyToml({"a", "b", "c"}, {3, 3}).ok());
}

TEST_CASE("plan files: the JSON `cleavectl plan --json` writes becomes the TOML the daemon takes, for each strategy") {
  // The planner's own plans, written as JSON by the same code as `cleavectl plan --json`.
  auto jsonOf = [](const std::string& topology, planner::Strategy strategy) {
    Result<config::FleetConfig> config = config::loadFleetConfig(std::string(CLEAVE_SOURCE_DIR) + "/configs/" + topology);
    REQUIRE_MESSAGE(config.ok(), config.error().message);
    Result<planner::PlanSet> set = planner::makePlan(config->problem, strategy, config->allowed);
    REQUIRE(set.ok());
    return std::make_pair(planner::planSetJson(*set, config->problem), std::move(*config));
  };
  auto [nonnJson, nonnConfig] = jsonOf("nonn-8pi.toml", planner::Strategy::Nonn);
  Result<std::string> nonn = planTextToml(nonnJson, "plan.json", true);
  REQUIRE_MESSAGE(nonn.ok(), nonn.error().message);
  toml::table parsed = toml::parse(*nonn);
  CHECK(parsed["strategy"].value<std::string>() == "nonn");
  REQUIRE(parsed["students"].as_array() != nullptr);
  REQUIRE(parsed["students"].as_array()->size() == 4);
  Result<planner::PlanSet> best = planner::makePlan(nonnConfig.problem, planner::Strategy::Nonn, nonnConfig.allowed);
  for (const planner::StagePlan& stage : best->plans.front().stages) {
    const std::string device = nonnConfig.problem.fleet.devices[stage.device].name;
    if (stage.graph == planner::StageGraph::Student)
      CHECK(parsed["students"][stage.graphIndex].value<std::string>() == device);
    if (stage.graph == planner::StageGraph::Fusion) CHECK(parsed["fusion"].value<std::string>() == device);
  }

  auto [splitJson, splitConfig] = jsonOf("home-lab.toml", planner::Strategy::Split);
  Result<std::string> split = planTextToml(splitJson, "plan.json", true);
  REQUIRE_MESSAGE(split.ok(), split.error().message);
  toml::table route = toml::parse(*split);
  CHECK(route["strategy"].value<std::string>() == "split");
  Result<planner::PlanSet> splitBest = planner::makePlan(splitConfig.problem, planner::Strategy::Split, splitConfig.allowed);
  REQUIRE(route["cuts"].as_array() != nullptr);
  CHECK(route["cuts"].as_array()->size() == splitBest->plans.front().cuts().size());
  CHECK(route["route"][0].value<std::string>() == splitConfig.problem.fleet.devices[splitConfig.problem.source].name);

  // early_exit: the blocks' devices in block order and the chosen thresholds, which the daemon
  // parses back into the same plan.
  auto [exitJson, exitConfig] = jsonOf("meanet-edge-cloud.toml", planner::Strategy::EarlyExit);
  Result<std::string> exits = planTextToml(exitJson, "plan.json", true);
  REQUIRE_MESSAGE(exits.ok(), exits.error().message);
  Result<daemon::AppliedPlan> applied = daemon::parsePlanApply(*exits);
  REQUIRE_MESSAGE(applied.ok(), applied.error().message);
  Result<planner::PlanSet> exitBest = planner::makePlan(exitConfig.problem, planner::Strategy::EarlyExit, exitConfig.allowed);
  REQUIRE(exitBest.ok());
  CHECK(applied->strategy == planner::Strategy::EarlyExit);
  CHECK(applied->thresholds == exitBest->plans.front().exitThresholds);
  std::vector<std::string> blockDevices;
  for (const planner::StagePlan& stage : exitBest->plans.front().stages)
    if (stage.graph == planner::StageGraph::Block) blockDevices.push_back(exitConfig.problem.fleet.devices[stage.device].name);
  CHECK(applied->blocks == blockDevices);

  // TOML passes through (checked for syntax here, for meaning by the daemon); mistakes name the file.
  CHECK(planTextToml("strategy = \"nonn\"\nstudents = [\"a\"]\nfusion = \"b\"\n", "p.toml", false).ok());
  CHECK(planTextToml("students = [\"a\"\n", "p.toml", false).error().message.find("p.toml:") == 0);
  CHECK(planTextToml("{\"plans\": []}", "p.json", true).error().message.find("p.json: not a plan") == 0);
  CHECK(planTextToml("{\"strategy\": \"clio\", \"stages\": [{}]}", "p.json", true).error().message.find("'clio'") !=
        std::string::npos);
  CHECK(planFileToml("/nonexistent/plan.toml").error().message == "/nonexistent/plan.toml: cannot read the plan file");
}

TEST_CASE("plan apply refuses malformed routes and cuts before anything is sent") {
  CHECK(planApplyToml({"a", "b", "c"}, {2}).error().message ==
        "--cuts: a route of 3 devices needs 2 cut positions, not 1");
  CHECK(planApplyToml({"a", "b"}, {1, 2}).error().message ==
        "--cuts: a route of 2 devices needs 1 cut position, not 2");
  CHECK(parseCuts("4,2").error().message == "--cuts: 2 comes after 4; cut positions must not decrease");
  CHECK(parseCuts("-1").error().message.find("'-1' is not a node position") != std::string::npos);
  CHECK(parseCuts("1,,2").error().message.find("'' is not a node position") != std::string::npos);
  CHECK(parseCuts("").value().empty());
  CHECK(parseRoute("").error().message.find("--route: give the devices") == 0);
  CHECK(parseRoute("a,b\"c").error().message == "--route: 'b\"c' may hold only letters, digits, '_' and '-'");
  CHECK(parseRoute("a,b,a").error().message == "--route: 'a' appears twice");
}

TEST_CASE("link figures: a bandwidth and an optional rtt, a trace, or --clear, never two of them") {
  LinkShapeArgs shape = parseLinkShape("link set", "200kbps", "10ms", false).value();
  CHECK(shape.bytesPerSecond == doctest::Approx(25000.0));
  CHECK(shape.rttSeconds == doctest::Approx(0.010));
  CHECK(parseLinkShape("link set", "200kbps", "", false).value().rttSeconds < 0);
  CHECK(parseLinkShape("link set", "", "", true).value().bytesPerSecond == 0);
  CHECK(parseLinkShape("link set", "1Mbps", "", true).error().message ==
        "link set: --clear takes no --bandwidth, --rtt or --trace");
  CHECK(parseLinkShape("link shape", "", "", false, true).ok());
  CHECK(parseLinkShape("link shape", "1Mbps", "", false, true).error().message ==
        "link shape: --trace replaces --bandwidth and --rtt");
  CHECK(parseLinkShape("link set", "", "", false).error().message ==
        "link set: give --bandwidth RATE (and optionally --rtt TIME), or --clear");
  CHECK(parseLinkShape("link shape", "", "", false).error().message ==
        "link shape: give --bandwidth RATE (and optionally --rtt TIME), or --trace FILE, or --clear");
  CHECK(parseLinkShape("link set", "1Mbit", "", false).error().message.find("--bandwidth: ") == 0);
  CHECK(parseLinkShape("link set", "1Mbps", "soon", false).error().message.find("--rtt: ") == 0);
}

TEST_CASE("key=value files: comments, blanks and errors with file:line") {
  auto values =
      parseKeyValueLines("# endpoints\ncontrol=tcp://127.0.0.1:5000\n\n operator = tcp://127.0.0.1:5001 \n", "f");
  REQUIRE(values.ok());
  CHECK(values->at("control") == "tcp://127.0.0.1:5000");
  CHECK(values->at("operator") == "tcp://127.0.0.1:5001");
  CHECK(parseKeyValueLines("a=1\nnonsense\n", "f").error().message == "f:2: expected KEY=VALUE, found 'nonsense'");
  CHECK(parseKeyValueLines("a=1\na=2\n", "f").error().message == "f:2: 'a' given twice");
}

TEST_CASE("the target from --state: endpoint from the daemon's file, keys from the state's keys folder") {
  TempDir state;
  StatePaths paths = statePaths(state.path.string());
  fs::create_directories(paths.keys);
  ConnectionOptions options;
  options.state = state.path.string();
  CHECK(resolveTarget(options).error().message ==
        fmt::format("{}: not found: the fleet is not running (start it with `cleavectl up CONFIG --state {}`)",
                    paths.endpoints, options.state));

  proto::CurveKeyPair op = *proto::generateKeyPair(), daemon = *proto::generateKeyPair(),
                      alice = *proto::generateKeyPair();
  REQUIRE(proto::writeKeyFiles(op, paths.keys, "operator", false).ok());
  REQUIRE(proto::writeKeyFiles(alice, paths.keys, "alice", false).ok());
  REQUIRE(proto::writeKeyFiles(daemon, paths.keys, "daemon", false).ok());
  REQUIRE(writeFileAtomically(paths.endpoints, "control=tcp://127.0.0.1:4000\noperator=tcp://127.0.0.1:4001\n").ok());
  OperatorTarget target = resolveTarget(options).value();
  CHECK(target.endpoint == "tcp://127.0.0.1:4001");
  CHECK(target.keys.secretKey == op.secretKey);
  CHECK(target.keys.publicKey == op.publicKey);  // derived from the secret
  CHECK(target.daemonPublicKey == daemon.publicKey);

  // `up` names another operator key when the topology does not list "operator".
  REQUIRE(writeFileAtomically(paths.fleet, "name=x\noperator_key=alice\n").ok());
  CHECK(resolveTarget(options).value().keys.publicKey == alice.publicKey);

  options.key = "k.secret";
  CHECK(resolveTarget(options).error().message.find("--state takes the endpoint and keys from the state folder") == 0);
  options.key.clear();
  REQUIRE(writeFileAtomically(paths.endpoints, "control=tcp://127.0.0.1:4000\n").ok());
  CHECK(resolveTarget(options).error().message == paths.endpoints + ": no 'operator=' line");
  options.state = (state.path / "missing").string();
  CHECK(resolveTarget(options).error().message.find("no such folder") != std::string::npos);
}

TEST_CASE("the target from --daemon and --key: the daemon key defaults to daemon.pub beside the key") {
  TempDir dir;
  proto::CurveKeyPair daemon = *proto::generateKeyPair();
  proto::CurveKeyPair own = writeOperatorKeys(dir, nullptr);
  ConnectionOptions options;
  options.daemon = "tcp://127.0.0.1:7702";
  CHECK(resolveTarget(options).error().message.find("--daemon needs --key FILE") == 0);
  options.key = dir / "operator.secret";
  CHECK(resolveTarget(options).error().message.find("daemon.pub") != std::string::npos);
  REQUIRE(proto::writeKeyFiles(daemon, dir.path.string(), "daemon", false).ok());
  OperatorTarget target = resolveTarget(options).value();
  CHECK(target.keys.publicKey == own.publicKey);
  CHECK(target.daemonPublicKey == daemon.publicKey);
  options.daemon = "127.0.0.1:7702";
  CHECK(resolveTarget(options).error().message ==
        "--daemon: '127.0.0.1:7702' is not a ZeroMQ endpoint such as tcp://127.0.0.1:7702");
  CHECK(parseTimeout("0").error().message.find("out of range") != std::string::npos);
  CHECK(parseTimeout("ten").error().message == "--timeout: 'ten' is not a number of seconds");
  CHECK(parseTimeout("2.5").value() == 2.5);
}

TEST_CASE("tables and percentiles") {
  CHECK(formatTable({{"a", "bb"}, {"ccc", "d"}}) == "a    bb\nccc  d\n");
  CHECK(percentile({5, 1, 4, 2, 3}, 50) == 3);
  CHECK(percentile({5, 1, 4, 2, 3}, 95) == 5);
  CHECK(percentile({7}, 95) == 7);
  std::vector<double> hundred;
  for (int i = 1; i <= 100; ++i) hundred.push_back(i);
  CHECK(percentile(hundred, 95) == 95);
  CHECK(percentile(hundred, 50) == 50);
}

TEST_CASE("a plan summary prints node ranges, relays and its totals") {
  capnp::MallocMessageBuilder builder;
  wire::PlanSummary::Builder plan = builder.initRoot<wire::PlanSummary>();
  plan.setEpoch(3);
  plan.setInstalled(true);
  plan.setPredictedLatencySeconds(0.0157);
  plan.setPredictedEnergyJoules(703e-6);
  auto stages = plan.initStages(3);
  const char* agents[] = {"camera", "pi1", "cloud"};
  const int64_t bounds[][2] = {{0, 0}, {0, 5}, {5, 8}};
  for (unsigned i = 0; i < 3; ++i) {
    stages[i].setStage(i);
    stages[i].setAgent(agents[i]);
    stages[i].setFirstNode(bounds[i][0]);
    stages[i].setEndNode(bounds[i][1]);
    stages[i].setSendBytes(i == 2 ? 0 : 3136);
  }
  std::string text = formatPlan(plan.asReader());
  CHECK(text.find("epoch 3, strategy split, installed\n") == 0);
  CHECK(text.find("predicted latency 15.7 ms, energy 703 uJ\n") != std::string::npos);
  CHECK(text.find("camera  (relay)") != std::string::npos);
  CHECK(text.find("pi1     0..4") != std::string::npos);
  CHECK(text.find("cloud   5..7") != std::string::npos);
  CHECK(text.find("3.1 KiB") != std::string::npos);
  CHECK(lineCount(text) == 6);
}

TEST_CASE("argmax of 1-D and 2-D float outputs; other outputs just their type") {
  proto::WireTensor logits{"logits", Tensor::fromVector<float>({1, 4}, {0.1f, 3.0f, -2.0f, 2.5f}), std::nullopt, 1, 0};
  CHECK(outputSummary(logits, 0) == "output 0 'logits': float32[1,4], argmax 1 (3)");
  proto::WireTensor batch{"", Tensor::fromVector<float>({2, 3}, {0, 1, 2, 9, 1, 2}), std::nullopt, 1, 0};
  CHECK(outputSummary(batch, 1) == "output 1: float32[2,3], argmax per row [2, 0]");
  proto::WireTensor ints{"ids", Tensor::fromVector<int64_t>({3}, {1, 2, 3}), std::nullopt, 0, 0};
  CHECK(outputSummary(ints, 0) == "output 0 'ids': int64[3]");
}

TEST_CASE("watch events are one line each, with what a person needs") {
  capnp::MallocMessageBuilder builder;
  wire::WatchEvent::Builder event = builder.initRoot<wire::WatchEvent>();
  event.setAgentDown("pi1");
  CHECK(formatWatchEvent(event.asReader()) == "agent down  pi1");
  auto telemetry = event.initTelemetry();
  telemetry.setAgent("pi2");
  auto report = telemetry.initReport();
  report.setEpoch(2);
  report.setQueueDepth(1);
  auto links = report.initLinks(1);
  links[0].setPeer("cloud");
  links[0].setBytesPerSecond(2.5e6);
  links[0].setRttSeconds(0.025);
  links[0].setSamples(4);
  std::string line = formatWatchEvent(event.asReader());
  CHECK(line.find("telemetry   pi2: epoch 2, queue 1; link cloud 20 Mbps rtt 25 ms (passive, 4 samples)") == 0);
  CHECK(lineCount(line) == 0);
  auto refusal = event.initRefusal();
  refusal.setFingerprint("0123456789abcdef");
  refusal.setAddress("10.0.0.7");
  refusal.setReason("unknown key\n\x1b[2J");  // control characters from the wire never reach the terminal
  CHECK(formatWatchEvent(event.asReader()) == "refused     key 0123456789abcdef from 10.0.0.7: unknown key??[2J");
}

// --- the session, against the fake daemon ------------------------------------------------------

TEST_CASE("a session: hello, then a status request answered by id") {
  proto::CurveKeyPair own = *proto::generateKeyPair();
  FakeDaemon daemon(own.publicKey, statusHandler());
  auto client = OperatorClient::connect(targetFor(daemon, own), 5.0);
  REQUIRE_MESSAGE(client.ok(), client.error().message);
  Result<OperatorReplyMessage> reply = (*client)->request(
      [](wire::OperatorRequest::Builder r, std::vector<zmq::message_t>&) -> Status {
        r.setStatus();
        return {};
      },
      "status");
  REQUIRE_MESSAGE(reply.ok(), reply.error().message);
  REQUIRE(reply->reply.isStatus());
  std::string text = formatStatus(reply->reply.getStatus());
  CHECK(text.find("epoch:               4\n") != std::string::npos);
  CHECK(text.find("agents online:       2/3\n") != std::string::npos);
  CHECK(text.find("requests completed:  17\n") != std::string::npos);
  CHECK(text.find("predicted latency:   12.3 ms\n") != std::string::npos);

  // An error reply becomes an Error naming the daemon.
  Result<OperatorReplyMessage> refused = (*client)->request(
      [](wire::OperatorRequest::Builder r, std::vector<zmq::message_t>&) -> Status {
        r.setPlanShow();
        return {};
      },
      "plan show");
  CHECK(refused.error().message == "daemon: not today");
}

TEST_CASE("a refused hello says why") {
  proto::CurveKeyPair own = *proto::generateKeyPair();
  FakeDaemon daemon(own.publicKey, statusHandler(), "protocol version 1, daemon speaks 2");
  auto client = OperatorClient::connect(targetFor(daemon, own), 5.0);
  REQUIRE_FALSE(client.ok());
  CHECK(client.error().message.find("refused the session: protocol version 1, daemon speaks 2") != std::string::npos);
}

TEST_CASE("silence is reported as no reply within the timeout; a refused key at once") {
  proto::CurveKeyPair own = *proto::generateKeyPair();
  proto::CurveKeyPair daemonKeys = *proto::generateKeyPair();
  {
    DeadPort dead;
    std::string endpoint = fmt::format("tcp://127.0.0.1:{}", dead.port);
    auto client = OperatorClient::connect({endpoint, own, daemonKeys.publicKey}, 0.3);
    REQUIRE_FALSE(client.ok());
    CHECK(client.error().message ==
          fmt::format("no reply from {} within 0.3 s (wrong key or daemon not running?)", endpoint));
  }
  {
    // The daemon's ZAP handler does not know our key: libzmq reports the refusal to the client.
    proto::CurveKeyPair stranger = *proto::generateKeyPair();
    FakeDaemon daemon(stranger.publicKey, statusHandler());
    auto start = std::chrono::steady_clock::now();
    auto client = OperatorClient::connect(targetFor(daemon, own), 10.0);
    REQUIRE_FALSE(client.ok());
    CHECK(client.error().message.find("refused this operator key") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
    CHECK(daemon.requests() == 0);
  }
  {
    // The wrong daemon key: the handshake fails silently on our side.
    FakeDaemon daemon(own.publicKey, statusHandler());
    auto client = OperatorClient::connect({daemon.endpoint(), own, daemonKeys.publicKey}, 0.5);
    REQUIRE_FALSE(client.ok());
    CHECK(client.error().message ==
          fmt::format("no reply from {} within 0.5 s (the CURVE handshake failed: wrong daemon "
                      "public key, or not a cleave daemon?)",
                      daemon.endpoint()));
  }
}

TEST_CASE("a daemon that goes away ends a wait with an error, not a hang") {
  proto::CurveKeyPair own = *proto::generateKeyPair();
  FakeDaemon daemon(own.publicKey, [](wire::OperatorRequest::Reader, Multipart&) { return std::vector<Multipart>(); });
  auto client = OperatorClient::connect(targetFor(daemon, own), 5.0);
  REQUIRE_MESSAGE(client.ok(), client.error().message);
  REQUIRE((*client)
              ->send([](wire::OperatorRequest::Builder r, std::vector<zmq::message_t>&) -> Status {
                r.initWatch().setPlans(true);
                return {};
              })
              .ok());
  daemon.stop();
  auto reply = (*client)->receive(-1, "watch");
  REQUIRE_FALSE(reply.ok());
  CHECK(reply.error().message.find("closed the connection") != std::string::npos);
}

TEST_CASE("a request the daemon does not implement is reported as such") {
  proto::CurveKeyPair own = *proto::generateKeyPair();
  FakeDaemon daemon(own.publicKey, [](wire::OperatorRequest::Reader request, Multipart&) {
    capnp::MallocMessageBuilder builder;
    builder.initRoot<wire::ControlMessage>().initUnimplemented().setWhich(static_cast<uint16_t>(request.which()));
    std::vector<Multipart> out(1);
    out[0].push_back(proto::encodeMessage(builder));
    return out;
  });
  auto client = OperatorClient::connect(targetFor(daemon, own), 5.0);
  REQUIRE(client.ok());
  auto reply = (*client)->request(
      [](wire::OperatorRequest::Builder r, std::vector<zmq::message_t>&) -> Status {
        r.initLinkSet().setFrom("a");
        return {};
      },
      "link set");
  CHECK_MESSAGE(
      reply.error().message.find("does not handle link set (unimplemented operator request 7)") != std::string::npos,
      reply.error().message);
}

// --- whole commands, in-process ----------------------------------------------------------------

TEST_CASE("commands fail with one line when the daemon is unreachable or arguments are wrong") {
  TempDir dir;
  proto::CurveKeyPair daemonKeys = *proto::generateKeyPair();
  writeOperatorKeys(dir, &daemonKeys);
  DeadPort dead;
  const std::string endpoint = fmt::format("tcp://127.0.0.1:{}", dead.port);
  CommandRun run = runCommand({"--daemon", endpoint, "--key", dir / "operator.secret", "--timeout", "0.2", "status"});
  CHECK(run.exitCode == 1);
  CHECK(run.err ==
        fmt::format("cleavectl: error: no reply from {} within 0.2 s (wrong key or daemon not running?)\n", endpoint));
  run = runCommand({"status", "--daemon", endpoint});  // global options also after the command
  CHECK(run.err ==
        "cleavectl: error: --daemon needs --key FILE: the operator's secret key "
        "(`cleavectl keygen operator --out DIR` writes one)\n");
  run = runCommand({"--state", dir / "nope", "agents"});
  CHECK(run.exitCode == 1);
  CHECK(lineCount(run.err) == 1);
  run = runCommand(
      {"--daemon", endpoint, "--key", dir / "operator.secret", "plan", "apply", "--route", "a,b", "--cuts", "1,2"});
  CHECK(run.err == "cleavectl: error: --cuts: a route of 2 devices needs 1 cut position, not 2\n");
  run = runCommand({"--daemon", endpoint, "--key", dir / "operator.secret", "infer", "--input", dir / "none.npy"});
  CHECK(run.exitCode == 1);
  CHECK(run.err.find("none.npy: cannot open file") != std::string::npos);
  run = runCommand({"--daemon", endpoint, "--key", dir / "operator.secret", "infer", "--input", "x", "--repeat", "0"});
  CHECK(run.err == "cleavectl: error: --repeat: 0 is out of range [1, 1000]\n");
  run = runCommand({"--daemon", endpoint, "--key", dir / "operator.secret", "link", "set", "a", "b"});
  CHECK(run.err == "cleavectl: error: link set: give --bandwidth RATE (and optionally --rtt TIME), or --clear\n");
}

TEST_CASE("status, plan apply and link set through the command line") {
  TempDir dir;
  proto::CurveKeyPair own = *proto::generateKeyPair();
  REQUIRE(proto::writeKeyFiles(own, dir.path.string(), "operator", false).ok());
  std::string appliedToml;
  bool appliedDryRun = false;
  std::string linkFrom, linkTo, linkPeer, linkAction;
  double linkRate = -1, linkRtt = -1;
  FakeDaemon::Handler status = statusHandler();
  FakeDaemon daemon(own.publicKey, [&](wire::OperatorRequest::Reader request, Multipart& frames) {
    std::vector<Multipart> out(1);
    if (request.isPlanApply()) {
      appliedToml = request.getPlanApply().getToml();
      appliedDryRun = request.getPlanApply().getDryRun();
      out[0].push_back(replyFrame(request.getId(), true, [](wire::OperatorReply::Builder r) {
        wire::PlanSummary::Builder plan = r.initPlan();
        auto stages = plan.initStages(1);
        stages[0].setAgent("solo");
        stages[0].setEndNode(8);
      }));
      return out;
    }
    if (request.isLinkSet()) {
      auto set = request.getLinkSet();
      linkFrom = set.getFrom();
      linkTo = set.getTo();
      linkAction = set.isPin() ? "pin" : set.isClear() ? "clear" : "shape";
      if (set.isPin()) {
        linkRate = set.getPin().getBytesPerSecond();
        linkRtt = set.getPin().getRttSeconds();
      }
      if (set.isShape()) {
        linkPeer = set.getShape().getPeer();
        linkRate = set.getShape().getBytesPerSecond();
        linkRtt = set.getShape().getRttSeconds();
      }
      out[0].push_back(replyFrame(request.getId(), true, [](wire::OperatorReply::Builder r) { r.setDone(); }));
      return out;
    }
    return status(request, frames);
  });
  REQUIRE(proto::writeKeyFiles(daemon.keys(), dir.path.string(), "daemon", false).ok());
  const std::vector<std::string> connect = {"--daemon", daemon.endpoint(), "--key", dir / "operator.secret"};
  auto with = [&](std::vector<std::string> args) {
    std::vector<std::string> all = connect;
    all.insert(all.end(), args.begin(), args.end());
    return runCommand(all);
  };

  CommandRun run = with({"status"});
  CHECK_MESSAGE(run.exitCode == 0, run.err);
  CHECK(run.out.find("agents online:       2/3\n") != std::string::npos);

  run = with({"plan", "apply", "--route", "solo", "--dry-run"});
  CHECK_MESSAGE(run.exitCode == 0, run.err);
  CHECK(appliedToml == "strategy = \"split\"\nroute = [\"solo\"]\ncuts = []\n");
  CHECK(appliedDryRun);
  CHECK(run.out.find("solo   0..7") != std::string::npos);
  CHECK(run.out.find("dry run: checked and costed by the daemon, not installed") != std::string::npos);

  run = with({"plan", "show"});  // the fake answers anything but status with an error
  CHECK(run.exitCode == 1);
  CHECK(run.err == "cleavectl: error: daemon: not today\n");

  run = with({"link", "set", "a", "b", "--bandwidth", "200kbps", "--rtt", "10ms"});
  CHECK_MESSAGE(run.exitCode == 0, run.err);
  CHECK(linkAction == "pin");
  CHECK(linkFrom == "a");
  CHECK(linkTo == "b");
  CHECK(linkRate == doctest::Approx(25000.0));
  CHECK(linkRtt == doctest::Approx(0.01));
  CHECK(run.out == "link a -> b: the daemon plans with 200 kbps, rtt 10 ms until `link set a b --clear`\n");
  run = with({"link", "set", "a", "b", "--bandwidth", "1Mbps"});
  CHECK(linkRtt < 0);  // keep the current estimate's RTT
  run = with({"link", "set", "a", "b", "--clear"});
  CHECK(run.exitCode == 0);
  CHECK(linkAction == "clear");
  CHECK(run.out == "link a -> b: pin released; the agents' measurements count again\n");
  run = with({"link", "shape", "a", "b", "--bandwidth", "2Mbps", "--rtt", "5ms"});
  CHECK_MESSAGE(run.exitCode == 0, run.err);
  CHECK(linkAction == "shape");
  CHECK(linkPeer == "b");
  CHECK(linkRate == doctest::Approx(250000.0));
  CHECK(linkRtt == doctest::Approx(0.005));
  run = with({"link", "shape", "a", "b", "--clear"});
  CHECK(linkRate == 0);
  CHECK(run.out == "link a -> b: shaping removed\n");
}

TEST_CASE("plan show and plan apply join the offline `plan CONFIG` command without changing it") {
  std::string config;
  int offlineRuns = 0;
  auto offlinePlan = [&](CLI::App& app) {  // as tools/cleavectl/plan_command.cpp declares it
    CLI::App* plan = app.add_subcommand("plan", "offline planner");
    plan->add_option("config", config, "Topology file")->required();
    plan->callback([&] { ++offlineRuns; });
  };
  CommandRun run = runCommand({"plan", "fleet.toml"}, offlinePlan);
  CHECK(run.exitCode == 0);
  CHECK(offlineRuns == 1);
  CHECK(config == "fleet.toml");

  run = runCommand({"plan"}, offlinePlan);  // the same error as before
  CHECK(run.exitCode != 0);
  CHECK(run.err.find("config is required") != std::string::npos);
  CHECK(offlineRuns == 1);

  DeadPort dead;
  TempDir dir;
  proto::CurveKeyPair daemonKeys = *proto::generateKeyPair();
  writeOperatorKeys(dir, &daemonKeys);
  run = runCommand({"plan", "show", "--daemon", fmt::format("tcp://127.0.0.1:{}", dead.port), "--key",
                    dir / "operator.secret", "--timeout", "0.2"},
                   offlinePlan);
  CHECK(run.exitCode == 1);
  CHECK(run.err.find("cleavectl: error: no reply from") == 0);
  CHECK(offlineRuns == 1);  // the offline planner did not run after `show`
}

TEST_CASE("infer sends the .npy unnamed, matches pipelined replies by id in any order, and writes the output") {
  TempDir dir;
  proto::CurveKeyPair own = *proto::generateKeyPair();
  REQUIRE(proto::writeKeyFiles(own, dir.path.string(), "operator", false).ok());
  Tensor input = Tensor::fromVector<float>({1, 10}, {0, 1, 2, 3, 4, 5, 6, 9, 8, 7});
  REQUIRE(writeNpy(dir / "in.npy", input).ok());
  std::vector<std::pair<uint64_t, proto::WireTensor>> held;
  std::string sentName = "unset";
  std::atomic<int> wanted{1};
  // Echoes each input back as the output "logits"; holds requests until `wanted` arrived and
  // answers them last first.
  FakeDaemon daemon(own.publicKey, [&](wire::OperatorRequest::Reader request, Multipart& frames) {
    // Runs on the fake's thread: CHECK, never REQUIRE (an exception there would end the test run).
    std::vector<Multipart> out;
    auto headers = request.getInfer().getTensors();
    CHECK(request.isInfer());
    CHECK(headers.size() == 1);
    CHECK(frames.size() == 1);
    if (!request.isInfer() || headers.size() != 1 || frames.size() != 1) return out;
    std::span<const std::byte> bytes(static_cast<const std::byte*>(frames[0].data()), frames[0].size());
    Result<proto::WireTensor> decoded = proto::decodeTensor(headers[0], bytes, proto::TensorLimits{});
    CHECK(decoded.ok());
    if (!decoded) return out;
    proto::WireTensor tensor = std::move(*decoded);
    sentName = tensor.name;
    CHECK(request.getInfer().getTimeoutSeconds() == 7.0);
    held.emplace_back(request.getId(), std::move(tensor));
    if (static_cast<int>(held.size()) < wanted.load()) return out;
    for (auto it = held.rbegin(); it != held.rend(); ++it) {
      Multipart message;
      zmq::message_t frame;
      message.push_back(replyFrame(it->first, true, [&](wire::OperatorReply::Builder r) {
        wire::InferResult::Builder result = r.initInferResult();
        result.setRequestId(100 + it->first);
        result.setEpoch(2);
        result.setLatencySeconds(0.001 * static_cast<double>(it->first));
        proto::WireTensor output = it->second;
        output.name = "logits";
        frame = proto::encodeTensor(output, result.initTensors(1)[0]).value();
      }));
      message.push_back(std::move(frame));
      out.push_back(std::move(message));
    }
    held.clear();
    return out;
  });
  REQUIRE(proto::writeKeyFiles(daemon.keys(), dir.path.string(), "daemon", false).ok());
  const std::vector<std::string> connect = {
      "--daemon", daemon.endpoint(), "--key", dir / "operator.secret", "--timeout", "7"};
  std::vector<std::string> args = connect;
  for (const char* a : {"infer", "--input"}) args.push_back(a);
  args.push_back(dir / "in.npy");
  args.push_back("--output");
  args.push_back(dir / "out.npy");

  CommandRun run = runCommand(args);
  CHECK_MESSAGE(run.exitCode == 0, run.err);
  CHECK(sentName.empty());
  CHECK(run.out.find("request 101, epoch 2: latency 1 ms") == 0);
  CHECK(run.out.find("output 0 'logits': float32[1,10], argmax 7 (9)\n") != std::string::npos);
  Result<Tensor> written = readNpy(dir / "out.npy");
  REQUIRE(written.ok());
  CHECK(written->identical(input));

  wanted = 3;
  args = connect;
  for (const char* a : {"infer", "--repeat", "3", "--input"}) args.push_back(a);
  args.push_back(dir / "in.npy");
  run = runCommand(args);
  CHECK_MESSAGE(run.exitCode == 0, run.err);
  // Replies came last first; the summary is still the first request's (a new session: id 1).
  CHECK(run.out.find("request 101, epoch 2") == 0);
  CHECK(run.out.find("3 requests pipelined in") != std::string::npos);
  CHECK(run.out.find("latency (daemon):  p50 2 ms, p95 3 ms") != std::string::npos);
}

}  // namespace
}  // namespace cleave::cli

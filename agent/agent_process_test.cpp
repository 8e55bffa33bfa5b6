// Real cleave-agent processes over CURVE on loopback TCP, with the test playing the daemon.
//
// One fleet of three agents (a = the source/origin, b, c; c measures its profile) goes through:
// registration; a three-stage split of models/fmnist-small whose results must be bit-identical
// to one Session::run of the whole graph; hostile control and data messages (dropped, counted,
// answered where the protocol says so) and a stranger's key (refused by ZAP), after which the
// agents keep serving; a new epoch with other cuts pushed while requests are in flight (each
// finishes once, under the epoch it started in); and b stopped then killed with requests
// pending, replaced by a plan without it with abandonBefore set, after which every pending
// request completes exactly once. A second fleet checks that an agent whose daemon falls
// silent registers again and takes the re-pushed plan.
//
// No sleeps: every wait is FakeDaemon::pumpUntil, a poll loop with a bounded timeout.
#include "agent/testing/agent_process.h"

#include <capnp/message.h>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <onnx/onnx_pb.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <zmq_addon.hpp>

#include "agent/testing/fake_daemon.h"
#include "proto/message_codec.h"
#include "runtime/analysis.h"
#include "runtime/liveness.h"
#include "runtime/npy.h"
#include "runtime/onnx_export.h"
#include "runtime/onnx_import.h"
#include "runtime/passes/optimize.h"
#include "runtime/session.h"
#include "runtime/stages.h"

namespace cleave::agent {
namespace {

using namespace std::chrono_literals;
using testing::AgentProcess;
using testing::FakeDaemon;
using testing::readFile;

const std::string MODEL_DIR = std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-small";

// A fresh folder for keys, configs and logs, removed at the end (kept, and named on stderr,
// when CLEAVE_KEEP_TEST_DIR is set: the agents' logs tell what happened).
struct TempDir {
  std::string path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "cleave-agent-test-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    if (getenv("CLEAVE_KEEP_TEST_DIR") != nullptr) {
      fmt::print(stderr, "agent_process_test: kept {}\n", path);
      return;
    }
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

// The model as the daemon plans it (optimised), and the single-process reference.
struct Model {
  Graph graph;
  int64_t positions = 0;
  std::unique_ptr<Session> whole;
  std::string inputName;

  static Model load() {
    Model model;
    Result<Graph> graph = importOnnxFile(MODEL_DIR + "/model.onnx");
    REQUIRE_MESSAGE(graph.ok(), graph.error().message);
    REQUIRE(optimizeGraph(*graph).ok());
    model.graph = std::move(*graph);
    Result<GraphAnalysis> analysis = analyzeGraph(model.graph);
    REQUIRE(analysis.ok());
    model.positions = computeLiveness(model.graph, *analysis).positions();
    REQUIRE(model.positions >= 4);
    Result<std::unique_ptr<Session>> whole = Session::create(model.graph);
    REQUIRE(whole.ok());
    model.whole = std::move(*whole);
    model.inputName = model.graph.inputs.at(0).name;
    return model;
  }

  Tensor reference(const Tensor& input) {
    Result<std::vector<Tensor>> out = whole->run({input});
    REQUIRE(out.ok());
    REQUIRE(out->size() == 1);
    return (*out)[0];
  }
};

Tensor sampleImage() {
  Result<Tensor> sample = readNpy(MODEL_DIR + "/sample.npy");
  REQUIRE_MESSAGE(sample.ok(), sample.error().message);
  return *sample;
}

Tensor randomImage(std::mt19937& rng) {
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  std::vector<float> values(28 * 28);
  for (float& v : values) v = pixel(rng);
  return Tensor::fromVector<float>({1, 1, 28, 28}, values);
}

proto::PeerSpec peerOf(FakeDaemon& daemon, const std::string& name) {
  return proto::PeerSpec{name, daemon.publicKey(name), daemon.agents.at(name).dataEndpoint};
}

// The split plan of fleet.md: stage i on route[i], each stage's outputs to the next, the last
// stage's back to the origin; one proto::PlanSpec per agent on the route.
std::map<std::string, proto::PlanSpec> splitPlan(FakeDaemon& daemon, const Model& model, uint64_t epoch,
                                          const std::vector<std::string>& route, const std::vector<int64_t>& cuts,
                                          uint64_t abandonBefore) {
  REQUIRE(cuts.size() + 1 == route.size());
  Result<std::vector<Graph>> stages = extractStages(model.graph, cuts);
  REQUIRE_MESSAGE(stages.ok(), stages.error().message);
  std::map<std::string, proto::PlanSpec> plans;
  const size_t last = route.size() - 1;
  for (size_t i = 0; i < route.size(); ++i) {
    const Graph& stageGraph = (*stages)[i];
    const std::string bytes = exportOnnxModel(stageGraph).SerializeAsString();
    Result<std::unique_ptr<Session>> session = Session::create(stageGraph);
    REQUIRE_MESSAGE(session.ok(), session.error().message);
    proto::StageSpec stage;
    stage.stage = static_cast<uint32_t>(i);
    stage.graphHash = daemon.addGraph(bytes);
    stage.graphBytes = bytes.size();
    stage.inputs = (*session)->inputs();
    stage.outputs = (*session)->outputs();
    if (i < last) stage.next = {proto::RouteSpec{route[i + 1], static_cast<uint32_t>(i + 1), {}}};
    proto::PlanSpec plan;
    plan.epoch = epoch;
    plan.model = "fmnist-small";
    plan.stages = {stage};
    plan.entry = proto::RouteSpec{route[0], 0, {}};
    plan.abandonBefore = abandonBefore;
    std::set<std::string> peers;
    if (i > 0) peers.insert(route[i - 1]);
    if (i < last) peers.insert(route[i + 1]);
    if (i == last && i > 0) peers.insert(route[0]);
    if (i == 0 && last > 0) peers.insert(route[last]);
    for (const std::string& peer : peers) plan.peers.push_back(peerOf(daemon, peer));
    plans[route[i]] = plan;
  }
  return plans;
}

bool allAcked(FakeDaemon& daemon, const std::map<std::string, proto::PlanSpec>& plans, uint64_t epoch) {
  for (const auto& [agent, plan] : plans)
    if (!daemon.planAcks.contains({agent, epoch})) return false;
  return true;
}

void pushAndAwait(FakeDaemon& daemon, const std::map<std::string, proto::PlanSpec>& plans, uint64_t epoch) {
  daemon.currentEpoch = epoch;
  for (const auto& [agent, plan] : plans) daemon.pushPlan(agent, plan);
  REQUIRE(daemon.pumpUntil([&] { return allAcked(daemon, plans, epoch); }, 15s));
  for (const auto& [agent, plan] : plans) {
    const testing::PlanAckRecord& ack = daemon.planAcks.at({agent, epoch});
    INFO(agent, ": ", ack.reason);
    CHECK(ack.accepted);
  }
}

std::map<std::string, proto::PlanSpec> without(std::map<std::string, proto::PlanSpec> plans, const std::string& agent) {
  plans.erase(agent);
  return plans;
}

size_t completedCount(const FakeDaemon& daemon, uint64_t id) {
  size_t count = 0;
  for (const testing::CompletedRecord& record : daemon.completed) count += record.requestId == id;
  return count;
}

bool allCompleted(const FakeDaemon& daemon, const std::map<uint64_t, Tensor>& expected) {
  for (const auto& [id, tensor] : expected)
    if (completedCount(daemon, id) == 0) return false;
  return true;
}

// Every request in `expected` completed exactly once, with output bit-identical to the single
// process run, under `epoch` (any when 0).
void checkCompleted(const FakeDaemon& daemon, const std::map<uint64_t, Tensor>& expected, uint64_t epoch) {
  for (const auto& [id, tensor] : expected) {
    CAPTURE(id);
    CHECK(completedCount(daemon, id) == 1);
    for (const testing::CompletedRecord& record : daemon.completed) {
      if (record.requestId != id) continue;
      INFO(record.failed);
      CHECK(record.failed.empty());
      if (epoch != 0) CHECK(record.epoch == epoch);
      REQUIRE(record.outputs.size() == 1);
      CHECK(record.outputs[0].tensor.identical(tensor));
    }
  }
}

// `extra`: more top-level keys (a client socket).
std::string agentConfig(const FakeDaemon& daemon, const std::string& name, bool declared, const std::string& extra) {
  std::string text = fmt::format(
      "name = \"{}\"\ndaemon = \"{}\"\ndaemon_key = \"keys/daemon.pub\"\nkeys = \"keys\"\n"
      "data = \"tcp://127.0.0.1:*\"\nmeasure_seconds = 0.2\n{}",
      name, daemon.endpoint(), extra);
  if (declared) text += "[device]\nkind = \"pi\"\nmacs = \"3G\"\nram = \"2GiB\"\n";
  return text;
}

AgentProcess startAgent(const TempDir& dir, const FakeDaemon& daemon, const std::string& name, bool declared,
                        const std::string& extra = "") {
  const std::string config = dir.path + "/" + name + ".toml";
  std::ofstream(config) << agentConfig(daemon, name, declared, extra);
  Result<AgentProcess> process =
      AgentProcess::start(CLEAVE_AGENT_BINARY, {"--config", config, "--log", dir.path + "/" + name + ".log"},
                          dir.path + "/" + name + ".out");
  REQUIRE_MESSAGE(process.ok(), process.error().message);
  return std::move(*process);
}

std::string logOf(const TempDir& dir, const std::string& name) { return readFile(dir.path + "/" + name + ".log"); }

size_t occurrences(const std::string& text, const std::string& what) {
  size_t count = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

zmq::message_t bytesFrame(std::mt19937& rng, size_t size) {
  zmq::message_t frame(size);
  for (size_t i = 0; i < size; ++i) static_cast<uint8_t*>(frame.data())[i] = static_cast<uint8_t>(rng());
  return frame;
}

std::vector<zmq::message_t> activations(uint64_t id, uint64_t epoch, uint32_t stage, const std::string& origin,
                                        std::vector<proto::WireTensor> tensors) {
  proto::TensorMessage message;
  message.requestId = id;
  message.epoch = epoch;
  message.stage = stage;
  message.origin = origin;
  message.sentAtMicros = 42;
  message.tensors = std::move(tensors);
  Result<std::vector<zmq::message_t>> frames = proto::encodeTensorMessage(message);
  REQUIRE(frames.ok());
  return std::move(*frames);
}

void sendFrames(zmq::socket_t& socket, std::vector<zmq::message_t> frames) {
  for (size_t i = 0; i < frames.size(); ++i)
    socket.send(frames[i], i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
}

// Reads data-plane replies (acks on a DEALER, failures on a ROUTER) into a list of kinds. Probes
// are counted apart: the tester is a peer in the plan, and agents probe idle peers' links.
struct DataReplies {
  int acks = 0;
  std::multiset<wire::Failure::Reason> failures;
  int probes = 0;
  int other = 0;
  void read(zmq::socket_t& socket, bool router) {
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(socket, std::back_inserter(frames), zmq::recv_flags::dontwait)) return;
    if (router) frames.erase(frames.begin());
    Result<proto::DecodedMessage> decoded = proto::DecodedMessage::fromFrame(frames.at(0), proto::DATA_HEADER_LIMITS);
    REQUIRE(decoded.ok());
    wire::DataMessage::Reader message = *decoded->root<wire::DataMessage>();
    if (message.which() == wire::DataMessage::ACK)
      ++acks;
    else if (message.which() == wire::DataMessage::FAILURE)
      failures.insert(message.getFailure().getReason());
    else if (message.which() == wire::DataMessage::PROBE)
      ++probes;
    else
      ++other;
  }
};

// A local application on an agent's client socket: hello, then operator requests; replies are
// collected by operator request id.
struct LocalClient {
  struct Reply {
    std::string error;  // an error reply
    uint64_t requestId = 0, epoch = 0;
    double latencySeconds = -1;
    std::vector<proto::WireTensor> outputs;
  };
  zmq::socket_t socket;
  int helloReplies = 0;
  bool helloAccepted = false;
  int unimplemented = 0;
  int undecodable = 0;
  std::map<uint64_t, Reply> replies;

  LocalClient(FakeDaemon& daemon, const proto::CurveKeyPair& keys, const std::string& serverKey,
              const std::string& endpoint)
      : socket(proto::makeCurveClient(daemon.context(), zmq::socket_type::dealer, keys, serverKey).value()) {
    socket.connect(endpoint);
    daemon.watch(socket, [this] { read(); });
  }

  void hello() {
    capnp::MallocMessageBuilder builder;
    auto hello = builder.initRoot<wire::ControlMessage>().initHello();
    hello.setProtocolVersion(wire::PROTOCOL_VERSION);
    hello.setRole(wire::Hello::Role::OPERATOR);
    hello.setName("test-app");
    socket.send(proto::encodeMessage(builder), zmq::send_flags::none);
  }

  void infer(uint64_t id, const std::vector<proto::WireTensor>& inputs, double timeoutSeconds = 20.0) {
    capnp::MallocMessageBuilder builder;
    auto request = builder.initRoot<wire::ControlMessage>().initOperatorRequest();
    request.setId(id);
    auto infer = request.initInfer();
    infer.setTimeoutSeconds(timeoutSeconds);
    auto headers = infer.initTensors(static_cast<unsigned>(inputs.size()));
    std::vector<zmq::message_t> frames;
    frames.push_back(zmq::message_t());
    for (size_t i = 0; i < inputs.size(); ++i)
      frames.push_back(proto::encodeTensor(inputs[i], headers[static_cast<unsigned>(i)]).value());
    frames[0] = proto::encodeMessage(builder);
    sendFrames(socket, std::move(frames));
  }

  void status(uint64_t id) {
    capnp::MallocMessageBuilder builder;
    auto request = builder.initRoot<wire::ControlMessage>().initOperatorRequest();
    request.setId(id);
    request.setStatus();
    socket.send(proto::encodeMessage(builder), zmq::send_flags::none);
  }

  void read() {
    std::vector<zmq::message_t> frames;
    while (zmq::recv_multipart(socket, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
      Status ok = take(frames);
      if (!ok) ++undecodable;
      frames.clear();
    }
  }

  Status take(const std::vector<zmq::message_t>& frames) {
    Result<proto::DecodedMessage> decoded = proto::DecodedMessage::fromFrame(frames.at(0), proto::CONTROL_LIMITS);
    if (!decoded) return decoded.error();
    Result<wire::ControlMessage::Reader> root = decoded->root<wire::ControlMessage>();
    if (!root) return root.error();
    return proto::decodeGuard("reply", [&]() -> Status {
      switch (root->which()) {
        case wire::ControlMessage::HELLO_REPLY:
          ++helloReplies;
          helloAccepted = root->getHelloReply().getAccepted();
          return {};
        case wire::ControlMessage::UNIMPLEMENTED:
          ++unimplemented;
          return {};
        case wire::ControlMessage::OPERATOR_REPLY:
          break;
        default:
          return Error{"unexpected kind"};
      }
      wire::OperatorReply::Reader reply = root->getOperatorReply();
      if (!reply.getFinal()) return Error{"not final"};
      Reply out;
      if (reply.isError()) {
        out.error = reply.getError();
        if (out.error.empty()) out.error = "(empty)";
      } else if (reply.isInferResult()) {
        wire::InferResult::Reader result = reply.getInferResult();
        out.requestId = result.getRequestId();
        out.epoch = result.getEpoch();
        out.latencySeconds = result.getLatencySeconds();
        if (result.getTensors().size() + 1 != frames.size()) return Error{"frame count"};
        for (unsigned i = 0; i < result.getTensors().size(); ++i) {
          const zmq::message_t& frame = frames[i + 1];
          Result<proto::WireTensor> tensor =
              proto::decodeTensor(result.getTensors()[i], {static_cast<const std::byte*>(frame.data()), frame.size()},
                                  proto::TensorLimits{});
          if (!tensor) return tensor.error();
          out.outputs.push_back(std::move(*tensor));
        }
      } else {
        return Error{"unexpected reply"};
      }
      if (!replies.emplace(reply.getId(), std::move(out)).second) return Error{"a second reply"};
      return {};
    });
  }
};

// The bound endpoint an agent logged for its client socket ("" until it did).
std::string clientEndpointOf(const std::string& log) {
  std::smatch match;
  if (!std::regex_search(log, match, std::regex(R"(client socket listening on (tcp://127\.0\.0\.1:\d+))"))) return "";
  return match[1].str();
}

}  // namespace

TEST_CASE(
    "three agents run a split model, survive bad input, switch epochs and lose an agent without losing requests") {
  TempDir dir;
  FakeDaemon daemon(dir.path + "/keys", {"a", "b", "c"});
  Model model = Model::load();
  std::mt19937 rng(2024);

  // --- start-up and registration (c measures its profile; a and b declare theirs) ---
  std::map<std::string, AgentProcess> processes;
  for (const char* name : {"a", "b", "c"})
    processes.emplace(name, startAgent(dir, daemon, name, std::string(name) != "c"));
  REQUIRE(daemon.pumpUntil(
      [&] {
        for (auto& [name, agent] : daemon.agents)
          if (agent.registrations == 0) return false;
        return true;
      },
      20s));
  for (auto& [name, agent] : daemon.agents) {
    CAPTURE(name);
    CHECK(agent.keyMatches);
    CHECK(agent.dataEndpoint.rfind("tcp://127.0.0.1:", 0) == 0);
  }
  CHECK_FALSE(daemon.agents["a"].measured);
  CHECK(daemon.agents["a"].convRate == doctest::Approx(3e9));
  CHECK(daemon.agents["a"].ramBytes == uint64_t{2} << 30);
  CHECK(daemon.agents["c"].measured);
  CHECK(daemon.agents["c"].convRate > 0);

  // --- epoch 1: a -> b -> c; b also admits a test peer ---
  proto::CurveKeyPair testerKeys = *proto::generateKeyPair();
  zmq::socket_t testerRouter =
      proto::makeCurveServer(daemon.zap(), zmq::socket_type::router, testerKeys.secretKey, "tester").value();
  testerRouter.bind("tcp://127.0.0.1:*");
  const int64_t p = model.positions;
  std::map<std::string, proto::PlanSpec> plan1 = splitPlan(daemon, model, 1, {"a", "b", "c"}, {p / 3, 2 * p / 3}, 0);
  plan1["b"].peers.push_back(
      proto::PeerSpec{"tester", *proto::decodeZ85Key(testerKeys.publicKey), testerRouter.get(zmq::sockopt::last_endpoint)});
  // The origin takes the plan first and starts requests before b admits it: b's ZAP refuses
  // a's handshake (libzmq does not retry that), so a must rebuild the connection and resend.
  pushAndAwait(daemon, {{"a", plan1["a"]}}, 1);

  uint64_t nextId = 1;
  auto submitBatch = [&](size_t count, bool withSample) {
    std::map<uint64_t, Tensor> expected;
    for (size_t i = 0; i < count; ++i) {
      Tensor input = withSample && i == 0 ? sampleImage() : randomImage(rng);
      expected[nextId] = model.reference(input);
      daemon.submit("a", nextId, {proto::WireTensor{model.inputName, input, std::nullopt, 1, 0}});
      ++nextId;
    }
    return expected;
  };
  std::map<uint64_t, Tensor> first = submitBatch(8, true);
  REQUIRE(daemon.pumpUntil([&] { return logOf(dir, "a").find("'b' at") != std::string::npos; }, 10s));
  CHECK(logOf(dir, "a").find("refused the handshake") != std::string::npos);
  pushAndAwait(daemon, without(plan1, "a"), 1);
  CHECK(daemon.graphRequests == 3);
  REQUIRE(daemon.pumpUntil([&] { return allCompleted(daemon, first); }, 15s));
  checkCompleted(daemon, first, 1);
  CHECK(logOf(dir, "a").find("connected to 'b' after refusals") != std::string::npos);

  // --- hostile control messages to the origin ---
  {
    std::vector<zmq::message_t> frames;
    frames.push_back(bytesFrame(rng, 8));  // a whole word, not a message
    daemon.sendRaw("a", std::move(frames));
    frames.clear();
    frames.push_back(bytesFrame(rng, 13));  // not a whole number of words
    daemon.sendRaw("a", std::move(frames));
    frames.clear();
    for (int i = 0; i < 40; ++i) frames.push_back(bytesFrame(rng, 8));  // too many frames
    daemon.sendRaw("a", std::move(frames));

    capnp::MallocMessageBuilder operatorReply;  // a kind agents do not take
    auto reply = operatorReply.initRoot<wire::ControlMessage>().initOperatorReply();
    reply.setId(5);
    reply.setDone();
    frames.clear();
    frames.push_back(proto::encodeMessage(operatorReply));
    daemon.sendRaw("a", std::move(frames));

    capnp::MallocMessageBuilder badPlan;  // a peer key of 5 bytes
    proto::PlanSpec tampered = plan1["a"];
    tampered.epoch = 50;
    auto push = badPlan.initRoot<wire::ControlMessage>().initPlanPush();
    proto::encodePlanPush(tampered, push);
    const uint8_t shortKey[5] = {1, 2, 3, 4, 5};
    push.getPeers()[0].setPublicKey(capnp::Data::Reader(shortKey, sizeof shortKey));
    frames.clear();
    frames.push_back(proto::encodeMessage(badPlan));
    daemon.sendRaw("a", std::move(frames));

    capnp::MallocMessageBuilder badSubmit;  // two headers, one frame
    auto submit = badSubmit.initRoot<wire::ControlMessage>().initSubmit();
    submit.setRequestId(777);
    submit.initTensors(2);
    frames.clear();
    frames.push_back(proto::encodeMessage(badSubmit));
    frames.push_back(bytesFrame(rng, 16));
    daemon.sendRaw("a", std::move(frames));

    REQUIRE(daemon.pumpUntil(
        [&] {
          return !daemon.unimplemented.empty() && daemon.planAcks.contains({"a", 50}) &&
                 completedCount(daemon, 777) == 1;
        },
        10s));
    CHECK(daemon.unimplemented[0] == std::make_pair(std::string("a"), uint16_t{wire::ControlMessage::OPERATOR_REPLY}));
    CHECK_FALSE(daemon.planAcks.at({"a", 50}).accepted);
    CHECK(daemon.planAcks.at({"a", 50}).reason.find("malformed plan") != std::string::npos);
    CHECK_FALSE(daemon.completed.back().failed.empty());
  }

  // --- hostile data messages to b from an admitted peer; a stranger's key ---
  {
    zmq::socket_t tester =
        proto::makeCurveClient(daemon.context(), zmq::socket_type::dealer, testerKeys, daemon.keys("b").publicKey)
            .value();
    tester.connect(daemon.agents["b"].dataEndpoint);
    DataReplies replies;
    daemon.watch(tester, [&] { replies.read(tester, false); });
    daemon.watch(testerRouter, [&] { replies.read(testerRouter, true); });

    std::vector<zmq::message_t> garbage;
    garbage.push_back(bytesFrame(rng, 13));
    sendFrames(tester, std::move(garbage));
    garbage.clear();
    garbage.push_back(bytesFrame(rng, 64));
    garbage.push_back(bytesFrame(rng, 5));
    sendFrames(tester, std::move(garbage));
    garbage.clear();
    for (int i = 0; i < 30; ++i) garbage.push_back(bytesFrame(rng, 8));
    sendFrames(tester, std::move(garbage));

    const ValueInfo& stage1Input = plan1["b"].stages[0].inputs.at(0);
    Shape wrongShape = stage1Input.type.shape;
    wrongShape.back() += 1;
    auto tensor = [&](const Shape& shape) {
      return std::vector<proto::WireTensor>{{stage1Input.name, Tensor::zeros(DType::F32, shape), std::nullopt, 1, 0}};
    };
    std::vector<zmq::message_t> wrongVersion = activations(9000, 1, 1, "tester", tensor(stage1Input.type.shape));
    {
      capnp::MallocMessageBuilder header;
      auto root = header.initRoot<wire::DataMessage>();
      root.setVersion(wire::PROTOCOL_VERSION + 1);
      root.initActivations().setOrigin("tester");
      wrongVersion[0] = proto::encodeMessage(header);
      wrongVersion.resize(1);
    }
    sendFrames(tester, std::move(wrongVersion));
    sendFrames(tester, activations(9001, 1, 1, "tester", tensor(wrongShape)));              // badMessage
    sendFrames(tester, activations(9002, 0, 1, "tester", tensor(stage1Input.type.shape)));  // unknownEpoch
    sendFrames(tester, activations(9003, 1, 7, "tester", tensor(stage1Input.type.shape)));  // unknownStage

    REQUIRE(daemon.pumpUntil([&] { return replies.acks >= 3 && replies.failures.size() >= 3; }, 10s));
    CHECK(replies.acks == 3);  // garbage and the wrong version get nothing
    CHECK(replies.failures.count(wire::Failure::Reason::BAD_MESSAGE) == 1);
    CHECK(replies.failures.count(wire::Failure::Reason::UNKNOWN_EPOCH) == 1);
    CHECK(replies.failures.count(wire::Failure::Reason::UNKNOWN_STAGE) == 1);
    CHECK(replies.other == 0);

    // A key in no plan: ZAP refuses the handshake; b logs the refusal with the key's fingerprint.
    proto::CurveKeyPair strangerKeys = *proto::generateKeyPair();
    zmq::socket_t stranger =
        proto::makeCurveClient(daemon.context(), zmq::socket_type::dealer, strangerKeys, daemon.keys("b").publicKey)
            .value();
    stranger.connect(daemon.agents["b"].dataEndpoint);
    int strangerReplies = 0;
    daemon.watch(stranger, [&] {
      zmq::message_t frame;
      while (stranger.recv(frame, zmq::recv_flags::dontwait)) ++strangerReplies;
    });
    sendFrames(stranger, activations(9100, 1, 1, "stranger", tensor(stage1Input.type.shape)));
    const std::string fingerprint = *proto::keyFingerprint(strangerKeys.publicKey);
    CHECK(daemon.pumpUntil([&] { return logOf(dir, "b").find("key " + fingerprint) != std::string::npos; }, 10s));
    CHECK(strangerReplies == 0);
    CHECK(logOf(dir, "b").find("refused a data-plane connection") != std::string::npos);
    CHECK(occurrences(logOf(dir, "b"), "dropped a data message") >= 4);
    CHECK(occurrences(logOf(dir, "a"), "dropped a control message") >= 3);

    // A second result for a request already completed (sent with c's key, which a admits): the
    // origin acknowledges it and drops it; the daemon sees no second `completed`.
    zmq::socket_t fakeC =
        proto::makeCurveClient(daemon.context(), zmq::socket_type::dealer, daemon.keys("c"), daemon.keys("a").publicKey)
            .value();
    fakeC.connect(daemon.agents["a"].dataEndpoint);
    DataReplies toFakeC;
    daemon.watch(fakeC, [&] { toFakeC.read(fakeC, false); });
    proto::TensorMessage duplicate;
    duplicate.kind = proto::TensorMessageKind::Result;
    duplicate.requestId = 1;
    duplicate.epoch = 1;
    duplicate.stage = 2;
    duplicate.origin = "a";
    duplicate.tensors = {{model.graph.outputs.at(0).name, Tensor::zeros(DType::F32, {1, 10}), std::nullopt, 1, 0}};
    sendFrames(fakeC, std::move(proto::encodeTensorMessage(duplicate).value()));
    CHECK(daemon.pumpUntil(
        [&] { return toFakeC.acks == 1 && logOf(dir, "a").find("request 1: duplicate result") != std::string::npos; },
        10s));
    CHECK(completedCount(daemon, 1) == 1);
    for (zmq::socket_t* socket : {&tester, &testerRouter, &stranger, &fakeC}) daemon.unwatch(*socket);
  }

  // The agents still serve.
  std::map<uint64_t, Tensor> afterAbuse = submitBatch(3, false);
  REQUIRE(daemon.pumpUntil([&] { return allCompleted(daemon, afterAbuse); }, 15s));
  checkCompleted(daemon, afterAbuse, 1);

  // --- epoch 2 while requests are in flight: a -> c -> b, where b only relays (an empty stage;
  // extractStages refuses equal cuts, so an empty stage can only be the first or the last) ---
  // The origin takes epoch 2 first and starts new requests under it while c still runs epoch 1
  // only: c holds their data until its own push arrives.
  std::map<uint64_t, Tensor> before = submitBatch(10, false);
  std::map<std::string, proto::PlanSpec> plan2 = splitPlan(daemon, model, 2, {"a", "c", "b"}, {p / 2, p}, 0);
  pushAndAwait(daemon, {{"a", plan2["a"]}}, 2);
  std::map<uint64_t, Tensor> after = submitBatch(10, false);
  REQUIRE(daemon.pumpUntil([&] { return logOf(dir, "c").find("held until its plan is accepted") != std::string::npos; },
                           10s));
  pushAndAwait(daemon, without(plan2, "a"), 2);
  REQUIRE(daemon.pumpUntil([&] { return allCompleted(daemon, before) && allCompleted(daemon, after); }, 15s));
  // Submits that reached the origin before the push started (and finished) under epoch 1.
  checkCompleted(daemon, before, 1);
  checkCompleted(daemon, after, 2);

  // --- b stops with requests pending at the origin, then dies; epoch 3 leaves it out ---
  processes.at("b").signal(SIGSTOP);
  REQUIRE(processes.at("b").waitStopped());
  std::map<uint64_t, Tensor> stranded = submitBatch(6, false);
  // The submits reach the origin before the plan (one connection, in order), so each starts
  // under epoch 2 and is stranded at b.
  processes.at("b").signal(SIGKILL);
  REQUIRE(processes.at("b").waitExit(10s).has_value());
  std::map<std::string, proto::PlanSpec> plan3 = splitPlan(daemon, model, 3, {"a", "c"}, {p - 1}, 3);
  pushAndAwait(daemon, plan3, 3);
  REQUIRE(daemon.pumpUntil([&] { return allCompleted(daemon, stranded); }, 15s));
  checkCompleted(daemon, stranded, 3);
  // Re-run because the plan abandoned epoch 2, not by the 10 s timer.
  CHECK(occurrences(logOf(dir, "a"), "the plan abandoned epoch 2") == stranded.size());

  // Nothing more arrives: exactly one completed per submit (observed for a further second).
  const size_t total = daemon.completed.size();
  CHECK_FALSE(daemon.pumpUntil([&] { return daemon.completed.size() > total; }, 1s));
  std::set<uint64_t> ids;
  for (const testing::CompletedRecord& record : daemon.completed) CHECK(ids.insert(record.requestId).second);
  CHECK(daemon.completed.size() == nextId - 1 + 1);  // every submit, plus the malformed one (777)

  // Heartbeats and telemetry with stage timings kept flowing throughout.
  for (const char* name : {"a", "c"}) {
    CAPTURE(name);
    CHECK(daemon.agents[name].heartbeats > 5);
    CHECK(daemon.agents[name].telemetryReports > 2);
    CHECK(daemon.agents[name].stageRuns > 0);
  }
  INFO(fmt::format("{}", fmt::join(daemon.problems, "\n")));
  CHECK(daemon.problems.empty());
  CHECK(logOf(dir, "a").find("[a] info: request 1 completed under epoch 1") != std::string::npos);
  CHECK(logOf(dir, "a").find("plan epoch 3 accepted") != std::string::npos);

  // --- SIGTERM: clean exit, status 0 ---
  for (const char* name : {"a", "c"}) {
    CAPTURE(name);
    processes.at(name).signal(SIGTERM);
    std::optional<int> status = processes.at(name).waitExit(10s);
    REQUIRE(status.has_value());
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
  }
}

TEST_CASE("an agent whose daemon falls silent registers again and takes the plan pushed again") {
  TempDir dir;
  FakeDaemon daemon(dir.path + "/keys", {"solo"});
  Model model = Model::load();
  AgentProcess agent = startAgent(dir, daemon, "solo", true);
  REQUIRE(daemon.pumpUntil([&] { return daemon.agents["solo"].registrations == 1; }, 10s));

  // One device: the whole graph is stage 0, run where the request starts (no data socket).
  std::map<std::string, proto::PlanSpec> plan = splitPlan(daemon, model, 1, {"solo"}, {}, 0);
  pushAndAwait(daemon, plan, 1);
  Tensor input = sampleImage();
  daemon.submit("solo", 1, {proto::WireTensor{model.inputName, input, std::nullopt, 1, 0}});
  REQUIRE(daemon.pumpUntil([&] { return completedCount(daemon, 1) == 1; }, 10s));
  checkCompleted(daemon, {{1, model.reference(input)}}, 1);

  // The daemon stops answering (as if it restarted); the agent says hello again after 3 s.
  daemon.setSilentTo("solo", true);
  REQUIRE(daemon.pumpUntil([&] { return daemon.agents["solo"].hellos == 2; }, 8s));
  REQUIRE(daemon.pumpUntil([&] { return daemon.agents["solo"].registrations == 2; }, 8s));
  // The restarted daemon's epochs start at 1 again; the agent takes them.
  daemon.planAcks.clear();
  pushAndAwait(daemon, plan, 1);
  daemon.submit("solo", 2, {proto::WireTensor{model.inputName, input, std::nullopt, 1, 0}});
  REQUIRE(daemon.pumpUntil([&] { return completedCount(daemon, 2) == 1; }, 10s));
  checkCompleted(daemon, {{2, model.reference(input)}}, 1);
  CHECK(logOf(dir, "solo").find("registering again") != std::string::npos);

  agent.signal(SIGINT);
  std::optional<int> status = agent.waitExit(10s);
  REQUIRE(status.has_value());
  CHECK_MESSAGE(WIFEXITED(*status), "killed by signal " << WTERMSIG(*status));
  CHECK(WEXITSTATUS(*status) == 0);
}

TEST_CASE("a long stage runs off the I/O thread: heartbeats keep their pace while it computes") {
  // A stage of 80 products with a 1024x1024 identity (about 86 GMAC, seconds of compute on one
  // thread): the output equals the input bit for bit, and an agent computing on its I/O thread
  // would go silent for the whole run.
  constexpr int64_t N = 1024;
  constexpr int PRODUCTS = 80;
  Graph slow;
  slow.name = "slow";
  slow.inputs = {{"x", {DType::F32, {N, N}}}};
  Tensor identity = Tensor::zeros(DType::F32, {N, N});
  for (int64_t i = 0; i < N; ++i) identity.data<float>()[i * N + i] = 1.0f;
  slow.initializers["w"] = identity;
  std::string previous = "x";
  for (int i = 0; i < PRODUCTS; ++i) {
    const std::string out = i + 1 == PRODUCTS ? std::string("y") : fmt::format("t{}", i);
    slow.nodes.push_back(Node{fmt::format("product{}", i), "MatMul", "", {previous, "w"}, {out}, {}});
    previous = out;
  }
  slow.outputs = {{"y", {DType::F32, {N, N}}}};
  Result<std::unique_ptr<Session>> session = Session::create(slow);
  REQUIRE_MESSAGE(session.ok(), session.error().message);

  TempDir dir;
  FakeDaemon daemon(dir.path + "/keys", {"solo"});
  AgentProcess agent = startAgent(dir, daemon, "solo", true);
  REQUIRE(daemon.pumpUntil([&] { return daemon.agents["solo"].registrations == 1; }, 10s));
  const std::string bytes = exportOnnxModel(slow).SerializeAsString();
  proto::PlanSpec plan;
  plan.epoch = 1;
  plan.model = "slow";
  proto::StageSpec stage;
  stage.graphHash = daemon.addGraph(bytes);
  stage.graphBytes = bytes.size();
  stage.inputs = (*session)->inputs();
  stage.outputs = (*session)->outputs();
  plan.stages = {stage};
  plan.entry = proto::RouteSpec{"solo", 0, {}};
  pushAndAwait(daemon, {{"solo", plan}}, 1);

  std::mt19937 rng(5);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  Tensor input = Tensor::zeros(DType::F32, {N, N});
  for (float& v : input.values<float>()) v = value(rng);
  const auto submitted = std::chrono::steady_clock::now();
  daemon.submit("solo", 1, {proto::WireTensor{"x", input, std::nullopt, 1, 0}});
  REQUIRE(daemon.pumpUntil([&] { return completedCount(daemon, 1) == 1; }, 60s));
  const auto done = std::chrono::steady_clock::now();
  checkCompleted(daemon, {{1, input}}, 1);

  // The longest silence between heartbeats while the stage ran (heartbeat interval: 0.1 s).
  std::vector<std::chrono::steady_clock::time_point> beats{submitted};
  for (auto at : daemon.agents["solo"].heartbeatTimes)
    if (at > submitted && at < done) beats.push_back(at);
  beats.push_back(done);
  std::chrono::duration<double> longest{0};
  for (size_t i = 1; i < beats.size(); ++i)
    longest = std::max<std::chrono::duration<double>>(longest, beats[i] - beats[i - 1]);
  const double computeSeconds = std::chrono::duration<double>(done - submitted).count();
  MESSAGE(fmt::format("stage ran {:.2f} s; {} heartbeats meanwhile, longest gap {:.3f} s", computeSeconds,
                      beats.size() - 2, longest.count()));
  // Only meaningful when the stage outlasts the daemon's default timeout (1 s); on a machine
  // fast enough to finish sooner this says nothing, which the message above shows.
  WARN(computeSeconds > 1.0);
  // Well inside the daemon's default heartbeat_timeout (1 s): the agent never looks dead.
  CHECK(longest.count() < 0.8);

  agent.signal(SIGTERM);
  std::optional<int> status = agent.waitExit(30s);
  REQUIRE(status.has_value());
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
}

TEST_CASE("a local client infers through the origin's client socket; strangers and garbage get nothing") {
  TempDir dir;
  FakeDaemon daemon(dir.path + "/keys", {"a", "b"});
  Model model = Model::load();
  std::mt19937 rng(7720);
  proto::CurveKeyPair appKeys = *proto::generateKeyPair();
  REQUIRE(proto::writeKeyFiles(appKeys, dir.path + "/keys", "app", false).ok());
  // Both agents serve local clients; only the plan's origin (a) can take their requests.
  const std::string clientKeys = "client = \"tcp://127.0.0.1:*\"\nclient_keys = [\"keys/app.pub\"]\n";
  AgentProcess a = startAgent(dir, daemon, "a", true, clientKeys);
  AgentProcess b = startAgent(dir, daemon, "b", true, clientKeys);
  REQUIRE(daemon.pumpUntil(
      [&] { return daemon.agents["a"].registrations == 1 && daemon.agents["b"].registrations == 1; }, 20s));
  std::string endpointA, endpointB;
  REQUIRE(daemon.pumpUntil(
      [&] {
        endpointA = clientEndpointOf(logOf(dir, "a"));
        endpointB = clientEndpointOf(logOf(dir, "b"));
        return !endpointA.empty() && !endpointB.empty();
      },
      10s));

  // --- before any plan: a request is held until one is accepted, or fails after its timeout ---
  LocalClient app(daemon, appKeys, daemon.keys("a").publicKey, endpointA);
  app.hello();
  REQUIRE(daemon.pumpUntil([&] { return app.helloReplies == 1; }, 10s));
  CHECK(app.helloAccepted);
  const Tensor early = sampleImage();
  app.infer(1, {{"", early, std::nullopt, 1, 0}}, 0.3);  // gives up before the plan comes
  REQUIRE(daemon.pumpUntil([&] { return app.replies.contains(1); }, 10s));
  CHECK(app.replies[1].error.find("no plan accepted within 0.3 s") != std::string::npos);
  app.infer(2, {{"", early, std::nullopt, 1, 0}});  // waits for the plan
  REQUIRE(daemon.pumpUntil([&] { return logOf(dir, "a").find("waits for a plan, at most 20 s") != std::string::npos; },
                           10s));

  const int64_t p = model.positions;
  std::map<std::string, proto::PlanSpec> plan = splitPlan(daemon, model, 1, {"a", "b"}, {p / 2}, 0);
  pushAndAwait(daemon, plan, 1);
  REQUIRE(daemon.pumpUntil([&] { return app.replies.contains(2); }, 15s));

  // --- N requests, unnamed (as cleavectl sends them) and named: bit-identical to one process ---
  std::map<uint64_t, Tensor> expected{{2, model.reference(early)}};
  for (uint64_t id = 10; id < 18; ++id) {
    Tensor input = randomImage(rng);
    expected[id] = model.reference(input);
    app.infer(id, {{id % 2 == 0 ? std::string() : model.inputName, input, std::nullopt, 1, 0}});
  }
  app.status(30);  // not served here
  REQUIRE(daemon.pumpUntil([&] { return app.replies.size() == expected.size() + 2; }, 20s));
  std::set<uint64_t> agentIds;
  for (const auto& [id, tensor] : expected) {
    CAPTURE(id);
    const LocalClient::Reply& reply = app.replies.at(id);
    INFO(reply.error);
    REQUIRE(reply.error.empty());
    CHECK(reply.epoch == 1);
    CHECK(reply.latencySeconds >= 0);
    CHECK((reply.requestId >> 63) == 1);  // the client id space: never a daemon's id
    CHECK(agentIds.insert(reply.requestId).second);
    REQUIRE(reply.outputs.size() == 1);
    CHECK(reply.outputs[0].name == model.graph.outputs.at(0).name);
    CHECK(reply.outputs[0].tensor.identical(tensor));
  }
  CHECK(app.replies.at(30).error == "only infer is served on an agent's client socket");
  CHECK(daemon.completed.empty());  // the results went to the client, not to the daemon
  CHECK(app.undecodable == 0);

  // --- an agent that is not the origin names the origin ---
  LocalClient appAtB(daemon, appKeys, daemon.keys("b").publicKey, endpointB);
  appAtB.hello();
  appAtB.infer(1, {{"", early, std::nullopt, 1, 0}});
  REQUIRE(daemon.pumpUntil([&] { return appAtB.replies.contains(1); }, 10s));
  CHECK(appAtB.replies[1].error.find("'b' is not the origin under plan epoch 1: send requests to 'a'") !=
        std::string::npos);

  // --- a key not in client_keys: refused by ZAP, logged with its fingerprint, never answered ---
  proto::CurveKeyPair strangerKeys = *proto::generateKeyPair();
  LocalClient stranger(daemon, strangerKeys, daemon.keys("a").publicKey, endpointA);
  stranger.hello();
  stranger.infer(1, {{"", early, std::nullopt, 1, 0}});
  const std::string fingerprint = *proto::keyFingerprint(strangerKeys.publicKey);
  CHECK(daemon.pumpUntil(
      [&] { return logOf(dir, "a").find("refused a client connection from 127.0.0.1: key " + fingerprint) !=
                   std::string::npos; },
      10s));

  // A plan peer's key gets through the shared ZAP handler but is not a client: dropped.
  LocalClient peer(daemon, daemon.keys("b"), daemon.keys("a").publicKey, endpointA);
  peer.hello();
  CHECK(daemon.pumpUntil([&] { return logOf(dir, "a").find("not a client key") != std::string::npos; }, 10s));
  // A client's key on the data plane (admitted by the same handler): dropped there.
  zmq::socket_t appOnData =
      proto::makeCurveClient(daemon.context(), zmq::socket_type::dealer, appKeys, daemon.keys("a").publicKey).value();
  appOnData.connect(daemon.agents["a"].dataEndpoint);
  sendFrames(appOnData, activations(1, 1, 0, "a", {{model.inputName, early, std::nullopt, 1, 0}}));
  CHECK(daemon.pumpUntil([&] { return logOf(dir, "a").find("a local client's key") != std::string::npos; }, 10s));

  // --- garbage from an admitted client: dropped and counted; malformed infers answered ---
  {
    std::vector<zmq::message_t> frames;
    frames.push_back(bytesFrame(rng, 13));  // not a whole number of words
    sendFrames(app.socket, std::move(frames));
    frames.clear();
    frames.push_back(bytesFrame(rng, 64));  // words, not a message
    sendFrames(app.socket, std::move(frames));
    frames.clear();
    for (int i = 0; i < 40; ++i) frames.push_back(bytesFrame(rng, 8));  // too many frames
    sendFrames(app.socket, std::move(frames));
    capnp::MallocMessageBuilder badInfer;  // two headers, one frame
    auto request = badInfer.initRoot<wire::ControlMessage>().initOperatorRequest();
    request.setId(40);
    request.initInfer().initTensors(2);
    frames.clear();
    frames.push_back(proto::encodeMessage(badInfer));
    frames.push_back(bytesFrame(rng, 16));
    sendFrames(app.socket, std::move(frames));
    app.infer(41, {{"", Tensor::zeros(DType::F32, {1, 1, 28, 27}), std::nullopt, 1, 0}});  // wrong shape
  }
  LocalClient noHello(daemon, appKeys, daemon.keys("a").publicKey, endpointA);
  noHello.infer(1, {{"", early, std::nullopt, 1, 0}});  // before hello: dropped, not answered
  REQUIRE(daemon.pumpUntil([&] { return app.replies.contains(40) && app.replies.contains(41); }, 10s));
  CHECK(app.replies[40].error.find("infer: 2 tensor headers but 1 frames") != std::string::npos);
  CHECK(app.replies[41].error.find("inputs do not fit the model") != std::string::npos);
  REQUIRE(daemon.pumpUntil([&] { return logOf(dir, "a").find("a message before hello") != std::string::npos; }, 10s));

  // The origin keeps serving its client (and the daemon).
  Tensor after = randomImage(rng);
  app.infer(50, {{"", after, std::nullopt, 1, 0}});
  daemon.submit("a", 1, {proto::WireTensor{model.inputName, after, std::nullopt, 1, 0}});
  REQUIRE(daemon.pumpUntil([&] { return app.replies.contains(50) && completedCount(daemon, 1) == 1; }, 15s));
  REQUIRE(app.replies[50].outputs.size() == 1);
  CHECK(app.replies[50].outputs[0].tensor.identical(model.reference(after)));
  checkCompleted(daemon, {{1, model.reference(after)}}, 1);

  // Nothing was ever sent to the refused, the peer or the silent connection; no second replies.
  CHECK_FALSE(daemon.pumpUntil([&] { return stranger.helloReplies + peer.helloReplies + noHello.helloReplies > 0; },
                               500ms));
  CHECK(stranger.replies.empty());
  CHECK(peer.replies.empty());
  CHECK(noHello.replies.empty());
  CHECK(app.undecodable == 0);
  const std::string logA = logOf(dir, "a");
  CHECK(occurrences(logA, "dropped a message on the client socket") >= 6);
  INFO(fmt::format("{}", fmt::join(daemon.problems, "\n")));
  CHECK(daemon.problems.empty());
  for (zmq::socket_t* socket : {&app.socket, &appAtB.socket, &stranger.socket, &peer.socket, &noHello.socket})
    daemon.unwatch(*socket);

  for (AgentProcess* agent : {&a, &b}) {
    agent->signal(SIGTERM);
    std::optional<int> status = agent->waitExit(10s);
    REQUIRE(status.has_value());
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
  }
}

}  // namespace cleave::agent

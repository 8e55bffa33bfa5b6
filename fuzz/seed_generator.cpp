// Writes the Cap'n Proto seeds of fuzz/corpus/{control_message,data_message}/ with the real
// encoders (proto::encodePlanPush, encodeTensorMessage, capnp builders), one valid message of every
// kind, frames joined by FRAME_SEPARATOR. Usage: fuzz_seed_generator CORPUS_DIR
#include <capnp/message.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "proto/plan_codec.h"
#include "fuzz/fuzz_frames.h"
#include "proto/control.capnp.h"
#include "proto/data.capnp.h"
#include "proto/message_codec.h"
#include "proto/tensor_frame.h"

namespace cleave::fuzz {
namespace {

namespace fs = std::filesystem;
using ControlBuilder = std::function<void(wire::ControlMessage::Builder, std::vector<zmq::message_t>&)>;

void writeFrames(const fs::path& file, const std::vector<zmq::message_t>& frames) {
  std::ofstream out(file, std::ios::binary);
  for (size_t i = 0; i < frames.size(); ++i) {
    if (i > 0) out << FRAME_SEPARATOR;
    out.write(static_cast<const char*>(frames[i].data()), static_cast<std::streamsize>(frames[i].size()));
  }
}

// A 1x1x4x4 image with spread values (the data seeds use fmnist's 1x1x28x28).
Tensor image(Shape shape) {
  Tensor t = Tensor::zeros(DType::F32, std::move(shape));
  float* values = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) values[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
  return t;
}

// Tensor headers in `list` and their frames appended to `frames`.
void addTensors(capnp::List<wire::TensorHeader>::Builder list, std::vector<zmq::message_t>& frames) {
  proto::WireTensor wire{"input", image({1, 1, 4, 4}), std::nullopt, 1, 0};
  frames.push_back(proto::encodeTensor(wire, list[0]).value());
}

proto::PlanSpec examplePlan() {
  proto::PlanSpec plan;
  plan.epoch = 3;
  plan.model = "fmnist-small";
  proto::StageSpec stage;
  stage.stage = 1;
  stage.graphHash.fill(0xab);
  stage.graphBytes = 4096;
  stage.inputs = {{"x", TensorType{DType::F32, {1, 1, 28, 28}}}};
  stage.outputs = {{"y", TensorType{DType::F32, {1, 10}}}};
  stage.next = {{"cloud", 2, {"y"}}};
  stage.predictedSeconds = 0.002;
  plan.stages.push_back(stage);
  proto::PeerSpec peer{"cloud", {}, "tcp://127.0.0.1:5601"};
  peer.publicKey.fill(0x11);
  plan.peers.push_back(peer);
  plan.entry = {"pi1", 1, {}};
  plan.abandonBefore = 2;
  return plan;
}

std::vector<std::pair<std::string, ControlBuilder>> controlSeeds() {
  return {
      {"hello",
       [](auto m, auto&) {
         auto h = m.initHello();
         h.setProtocolVersion(wire::PROTOCOL_VERSION);
         h.setRole(wire::Hello::Role::AGENT);
         h.setName("pi1");
         h.setSoftware("cleave-agent");
       }},
      {"hello_reply", [](auto m, auto&) { m.initHelloReply().setReason("protocol version 9, daemon speaks 1"); }},
      {"register",
       [](auto m, auto&) {
         auto r = m.initRegister();
         r.setName("pi1");
         std::vector<uint8_t> key(32, 0x42);
         r.setPublicKey(proto::dataOf(key));
         auto p = r.initProfile();
         p.setKind("rpi4");
         auto rates = p.initMacsPerSecond();
         rates.setConv(2e9);
         rates.setDepthwise(5e8);
         rates.setGemm(3e9);
         rates.setElementwise(1e9);
         rates.setOther(1e8);
         p.setNodeOverheadSeconds(1e-5);
         p.setRamBytes(1ull << 30);
         p.setJoulesPerMac(1e-10);
         r.setDataEndpoint("tcp://127.0.0.1:5600");
       }},
      {"register_reply",
       [](auto m, auto&) {
         auto r = m.initRegisterReply();
         r.setAccepted(true);
         r.setHeartbeatSeconds(0.25);
         r.setTelemetrySeconds(1.0);
       }},
      {"heartbeat", [](auto m, auto&) { m.initHeartbeat().setSequence(7); }},
      {"telemetry",
       [](auto m, auto&) {
         auto t = m.initTelemetry();
         t.setEpoch(3);
         auto links = t.initLinks(2);
         links[0].setPeer("cloud");
         links[0].setBytesPerSecond(1.25e6);
         links[0].setRttSeconds(0.02);
         links[1].setPeer("pi2");
         links[1].setSource(wire::LinkEstimate::Source::PROBE);
         auto stages = t.initStages(1);
         stages[0].setStage(1);
         stages[0].setRuns(10);
         stages[0].setMeanSeconds(0.003);
       }},
      {"plan_push", [](auto m, auto&) { proto::encodePlanPush(examplePlan(), m.initPlanPush()); }},
      {"plan_ack", [](auto m, auto&) { m.initPlanAck().setReason("stage 1: graph too large"); }},
      {"graph_request",
       [](auto m, auto&) {
         std::vector<uint8_t> hash(32, 0xab);
         m.initGraphRequest().setHash(proto::dataOf(hash));
       }},
      {"graph_blob",
       [](auto m, auto& frames) {
         std::vector<uint8_t> hash(32, 0xab);
         auto b = m.initGraphBlob();
         b.setHash(proto::dataOf(hash));
         b.setFound(true);
         b.setByteLength(4);
         frames.emplace_back("onnx", 4);
       }},
      {"link_shape",
       [](auto m, auto&) {
         auto s = m.initLinkShape();
         s.setPeer("cloud");
         auto trace = s.initTrace(3);
         for (unsigned i = 0; i < 3; ++i) {
           trace[i].setSeconds(i * 2.0);
           trace[i].setBytesPerSecond(i == 1 ? 0.0 : 1e5 * (i + 1));
           trace[i].setRttSeconds(0.01);
         }
       }},
      {"submit",
       [](auto m, auto& frames) {
         auto s = m.initSubmit();
         s.setRequestId(42);
         addTensors(s.initTensors(1), frames);
       }},
      {"completed",
       [](auto m, auto& frames) {
         auto c = m.initCompleted();
         c.setRequestId(42);
         c.setEpoch(3);
         addTensors(c.initOutputs(1), frames);
       }},
      {"completed_failed", [](auto m, auto&) { m.initCompleted().setFailed("no plan"); }},
      {"operator_plan_apply",
       [](auto m, auto&) {
         m.initOperatorRequest().initPlanApply().setToml(
             "strategy = \"split\"\nroute = [\"camera\", \"cloud\"]\ncuts = [3]\n");
       }},
      {"operator_infer",
       [](auto m, auto& frames) {
         auto r = m.initOperatorRequest();
         r.setId(5);
         addTensors(r.initInfer().initTensors(1), frames);
       }},
      {"operator_link_set",
       [](auto m, auto&) {
         auto l = m.initOperatorRequest().initLinkSet();
         l.setFrom("camera");
         l.setTo("pi1");
         l.initPin().setBytesPerSecond(2.5e5);
       }},
      {"unimplemented", [](auto m, auto&) { m.initUnimplemented().setWhich(99); }},
  };
}

void writeControlSeeds(const fs::path& dir) {
  fs::create_directories(dir);
  for (const auto& [name, build] : controlSeeds()) {
    capnp::MallocMessageBuilder builder;
    std::vector<zmq::message_t> frames;
    std::vector<zmq::message_t> extra;
    build(builder.initRoot<wire::ControlMessage>(), extra);
    frames.push_back(proto::encodeMessage(builder));
    for (zmq::message_t& frame : extra) frames.push_back(std::move(frame));
    writeFrames(dir / (name + ".bin"), frames);
  }
}

void writeDataSeeds(const fs::path& dir) {
  fs::create_directories(dir);
  proto::TensorMessage activations;
  activations.requestId = 42;
  activations.epoch = 3;
  activations.stage = 1;
  activations.origin = "camera";
  activations.tensors.push_back({"x", image({1, 1, 28, 28}), std::nullopt, 1, 0});
  writeFrames(dir / "activations.bin", *proto::encodeTensorMessage(activations));

  // Leading channels only, and a quantised tensor, as clio's progressive split sends them.
  proto::TensorMessage partial = activations;
  partial.tensors = {{"features", image({1, 4, 3, 3}), std::nullopt, 1, 2}};
  Tensor q = Tensor::zeros(DType::U8, {1, 8});
  for (int64_t i = 0; i < 8; ++i) q.data<uint8_t>()[i] = static_cast<uint8_t>(i * 31);
  partial.tensors.push_back({"quantized", q, proto::AffineQuantization{0.05f, 128}, 1, 0});
  writeFrames(dir / "activations_partial.bin", *proto::encodeTensorMessage(partial));

  proto::TensorMessage result = activations;
  result.kind = proto::TensorMessageKind::Result;
  result.tensors = {{"logits", image({1, 10}), std::nullopt, 1, 0}};
  writeFrames(dir / "result.bin", *proto::encodeTensorMessage(result));

  auto single = [&](const std::string& name, const std::function<void(wire::DataMessage::Builder)>& fill) {
    capnp::MallocMessageBuilder builder;
    auto m = builder.initRoot<wire::DataMessage>();
    m.setVersion(wire::PROTOCOL_VERSION);
    m.setRequestId(42);
    m.setEpoch(3);
    fill(m);
    std::vector<zmq::message_t> frames;
    frames.push_back(proto::encodeMessage(builder));
    writeFrames(dir / name, frames);
  };
  single("failure.bin", [](auto m) {
    auto f = m.initFailure();
    f.setReason(wire::Failure::Reason::UNKNOWN_STAGE);
    f.setDetail("'pi2' does not run stage 4 under epoch 3");
  });
  single("probe.bin", [](auto m) { m.initProbe().setSentAtMicros(123456); });
  single("ack.bin", [](auto m) {
    auto a = m.initAck();
    a.setEchoSentAtMicros(123456);
    a.setReceivedBytes(3136);
  });
}

}  // namespace
}  // namespace cleave::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  std::filesystem::path corpus(argv[1]);
  cleave::fuzz::writeControlSeeds(corpus / "control_message");
  cleave::fuzz::writeDataSeeds(corpus / "data_message");
  return 0;
}

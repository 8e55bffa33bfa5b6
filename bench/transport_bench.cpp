// Data-plane transfer times (Google Benchmark): one float32 tensor of 4 KiB, 64 KiB or 1 MiB moved
// from a sending DEALER to a receiving ROUTER over tcp://127.0.0.1, the sender waiting for the
// receiver's acknowledgement (so a transfer is timed whole, as the agent's passive link
// estimation times it). Variants, same socket types, each with its own pair of sockets:
//   zmq        raw ZeroMQ: the bytes as one zero-copy frame; the receiver copies them into
//              fresh aligned storage (a real receiver must own the data) and answers "ok";
//   zmq_curve  the same over CURVE sockets from proto/secure_socket, ZAP answered by the
//              receiver's poll loop;
//   cleave     cleave's data plane over those CURVE sockets: encodeTensorMessage (DataMessage
//              activations header + zero-copy tensor frame), decodeTensorMessage under
//              TensorLimits and the expected TensorType, a Cap'n Proto TransferAck back, decoded
//              and checked by the sender as the agent does;
//   zmq_curve_framed  diagnostic: raw CURVE with cleave's frames (a header-sized frame before
//              the tensor, an ack of a TransferAck's size) but none of cleave's code, so
//              cleave's extra time splits into "its framing" and "its encode/decode work".
// Besides each variant's median transfer, every repetition reports where the time of the
// receivers (message in hand -> ack queued) and of cleave's sender (encode, ack check) goes.
// Every sender and every receiver has its own zmq::context_t (its own I/O thread, as separate
// agent processes would) and every receiver its own thread. The variants are interleaved
// transfer by transfer (see transfer()). run_transport_bench.sh turns the JSON into
// bench/results/transport.md.
#include <benchmark/benchmark.h>

#include <capnp/message.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <zmq.hpp>

#include "proto/data.capnp.h"
#include "proto/key_files.h"
#include "proto/message_codec.h"
#include "proto/multipart.h"
#include "proto/secure_socket.h"
#include "proto/tensor_frame.h"

namespace cleave::proto {
namespace {

using Clock = std::chrono::steady_clock;

enum class Variant { Zmq, ZmqCurve, ZmqCurveFramed, Cleave };

// For zmq_curve_framed: cleave's frame count and sizes without cleave's code, so the gap
// between raw+CURVE and cleave splits into "more and bigger frames" and "encode/decode work".
struct Framing {
  size_t headerBytes = 0;  // a frame of this size goes before the tensor frame (0: none)
  size_t ackBytes = 0;     // the acknowledgement's size (0: "ok")
};

constexpr const char* ZAP_DOMAIN = "transport-bench";
constexpr size_t MAX_FRAMES = 2 + 16;      // routing id, header, at most TensorLimits::maxTensors tensors
constexpr auto STOP_POLL = std::chrono::milliseconds(50);  // how soon the receiver notices stop
constexpr int SEND_RECEIVE_TIMEOUT_MS = 10'000;  // only reached when something is broken
constexpr int WARMUP_TRANSFERS = 20;              // handshake, allocator and cache warm-up, untimed
constexpr uint64_t EPOCH = 1;
constexpr uint32_t STAGE = 1;
const std::string ORIGIN = "a";
const std::string TENSOR_NAME = "activation";

// A batch-1 NCHW float32 shape of `bytes` bytes (16x16 planes, as many channels as it takes).
Shape shapeOf(int64_t bytes) { return {1, bytes / 4 / 256, 16, 16}; }

uint64_t nowMicros() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch()).count());
}

struct FreeDeleter {
  void operator()(std::byte* p) const { std::free(p); }
};

// Both sockets of the plain variant get the options makeCurveServer/makeCurveClient set, so the
// only difference between zmq and zmq_curve is the mechanism.
void setPlainOptions(zmq::socket_t& socket) {
  SocketOptions defaults;
  socket.set(zmq::sockopt::maxmsgsize, defaults.maxFrameBytes);
  socket.set(zmq::sockopt::linger, defaults.lingerMs);
}

// The `activations` message the agent sends for one stage output.
TensorMessage activationsMessage(const Tensor& tensor, uint64_t requestId) {
  TensorMessage message;
  message.kind = TensorMessageKind::Activations;
  message.requestId = requestId;
  message.epoch = EPOCH;
  message.stage = STAGE;
  message.origin = ORIGIN;
  message.sentAtMicros = nowMicros();
  message.tensors.push_back(WireTensor{TENSOR_NAME, tensor, std::nullopt, 1, 0});
  return message;
}

// The receiver's TransferAck, as the agent builds it.
zmq::message_t encodeAck(uint64_t requestId, uint64_t epoch, uint64_t sentAtMicros, uint64_t receivedBytes, uint32_t stage) {
  capnp::MallocMessageBuilder builder;
  auto root = builder.initRoot<wire::DataMessage>();
  root.setVersion(wire::PROTOCOL_VERSION);
  root.setRequestId(requestId);
  root.setEpoch(epoch);
  auto ack = root.initAck();
  ack.setEchoSentAtMicros(sentAtMicros);
  ack.setReceivedBytes(receivedBytes);
  ack.setStage(stage);
  return encodeMessage(builder);
}

// The sender's side of an ack: decode under the data-plane limits and check it answers `sent`.
Status checkAck(const zmq::message_t& frame, const TensorMessage& sent, uint64_t sentBytes) {
  Result<DecodedMessage> decoded = DecodedMessage::fromFrame(frame, DATA_HEADER_LIMITS);
  if (!decoded) return decoded.error();
  Result<wire::DataMessage::Reader> reply = decoded->root<wire::DataMessage>();
  if (!reply) return reply.error();
  return decodeGuard("ack", [&]() -> Status {
    if (reply->which() == wire::DataMessage::FAILURE)
      return Error{"receiver refused the message: " + std::string(reply->getFailure().getDetail().cStr())};
    if (reply->which() != wire::DataMessage::ACK) return Error{"reply is not an ack"};
    auto ack = reply->getAck();
    if (reply->getRequestId() != sent.requestId || ack.getEchoSentAtMicros() != sent.sentAtMicros ||
        ack.getReceivedBytes() != sentBytes || ack.getStage() != sent.stage)
      return Error{fmt::format("ack does not match: request {}, {} bytes", reply->getRequestId(), ack.getReceivedBytes())};
    return {};
  });
}

// The receiving end: a ROUTER on its own context and thread, polled together with its ZAP
// handler (CURVE variants). Stops when the object is destroyed.
class Receiver {
 public:
  Receiver(Variant variant, Framing framing, TensorType expected, CurveKeyPair serverKeys, std::string clientPublicKey)
      : variant_(variant), framing_(framing), expected_(std::move(expected)), serverKeys_(std::move(serverKeys)),
        clientPublicKey_(std::move(clientPublicKey)) {}
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;
  ~Receiver() { stop(); }

  // Stops the thread; then handlingSeconds() may be read.
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Per message: from having its frames to having queued the acknowledgement.
  const std::vector<double>& handlingSeconds() const { return handling_; }

  // Starts the thread; returns the bound endpoint once the socket listens.
  Result<std::string> start() {
    std::promise<Result<std::string>> ready;
    std::future<Result<std::string>> endpoint = ready.get_future();
    thread_ = std::thread([this, promise = std::move(ready)]() mutable { run(promise); });
    return endpoint.get();
  }

 private:
  void run(std::promise<Result<std::string>>& ready) {
    std::optional<ZapAuthenticator> zap;  // before the socket: it must outlive it
    zmq::socket_t socket;
    if (variant_ == Variant::Zmq) {
      socket = zmq::socket_t(context_, zmq::socket_type::router);
      setPlainOptions(socket);
    } else {
      Result<ZapAuthenticator> created = ZapAuthenticator::create(context_);
      if (!created) return ready.set_value(created.error());
      zap.emplace(std::move(*created));
      if (Status allowed = zap->allow(clientPublicKey_); !allowed) return ready.set_value(allowed.error());
      Result<zmq::socket_t> server = makeCurveServer(*zap, zmq::socket_type::router, serverKeys_.secretKey, ZAP_DOMAIN);
      if (!server) return ready.set_value(server.error());
      socket = std::move(*server);
    }
    socket.bind("tcp://127.0.0.1:*");
    ready.set_value(socket.get(zmq::sockopt::last_endpoint));

    std::vector<zmq::message_t> frames;
    std::vector<zmq::pollitem_t> items = {{socket.handle(), 0, ZMQ_POLLIN, 0}};
    if (zap) items.push_back({zap->socket().handle(), 0, ZMQ_POLLIN, 0});
    while (!stop_) {
      zmq::poll(items, STOP_POLL);
      if (zap && (items[1].revents & ZMQ_POLLIN)) zap->handlePending();
      if (items[0].revents & ZMQ_POLLIN) {
        while (receiveMultipart(socket, frames, MAX_FRAMES) == Received::Message) {
          const auto start = Clock::now();
          if (variant_ == Variant::Cleave) handleData(socket, frames);
          else handleRaw(socket, frames);
          // The sender's untimed warm-up transfers come first; leave them out.
          if (++handled_ > WARMUP_TRANSFERS) handling_.push_back(std::chrono::duration<double>(Clock::now() - start).count());
        }
      }
    }
  }

  // [routing id, (header,) bytes]: take ownership of a copy, answer "ok" (or "bad" on a wrong
  // size); with framing.ackBytes, an acknowledgement of that size.
  void handleRaw(zmq::socket_t& socket, std::vector<zmq::message_t>& frames) {
    const size_t count = framing_.headerBytes > 0 ? 3 : 2;
    const bool good = frames.size() == count && frames.back().size() == static_cast<size_t>(expected_.bytes());
    if (good) {
      const size_t size = frames.back().size();
      const size_t rounded = (size + TENSOR_ALIGNMENT - 1) / TENSOR_ALIGNMENT * TENSOR_ALIGNMENT;
      // Same allocator and alignment as Tensor storage, without its zero fill.
      std::unique_ptr<std::byte, FreeDeleter> owned(static_cast<std::byte*>(std::aligned_alloc(TENSOR_ALIGNMENT, rounded)));
      if (owned == nullptr) throw std::bad_alloc();
      std::memcpy(owned.get(), frames.back().data(), size);
      owned_ = std::move(owned);  // held until the next message, like a queued stage input
    }
    socket.send(frames[0], zmq::send_flags::sndmore);
    if (!good) {
      socket.send(zmq::str_buffer("bad"), zmq::send_flags::none);
    } else if (framing_.ackBytes > 0) {
      zmq::message_t ack(framing_.ackBytes);
      std::memset(ack.data(), 0, ack.size());
      socket.send(ack, zmq::send_flags::none);
    } else {
      socket.send(zmq::str_buffer("ok"), zmq::send_flags::none);
    }
  }

  // [routing id, DataMessage, tensor frames...]: what the agent's data-plane handler does for
  // `activations`: check the peer, decode under the limits and the stage's input types, ack.
  void handleData(zmq::socket_t& socket, std::vector<zmq::message_t>& frames) {
    std::string failure;
    if (frames.size() < 2) {
      failure = "no header frame";
    } else if (std::string_view(frames[1].gets("User-Id")) != clientPublicKey_) {
      failure = "not a peer of this plan";
    } else {
      Result<DecodedMessage> decoded = DecodedMessage::fromFrame(frames[1], limits_.header);
      if (!decoded) return reply(socket, frames[0], failureMessage(decoded.error().message));
      Result<wire::DataMessage::Reader> header = decoded->root<wire::DataMessage>();
      if (!header) return reply(socket, frames[0], failureMessage(header.error().message));
      switch (header->which()) {
        case wire::DataMessage::ACTIVATIONS: {
          std::span<const zmq::message_t> tensorFrames = std::span<const zmq::message_t>(frames).subspan(2);
          Result<TensorMessage> message = decodeTensorMessage(*header, tensorFrames, limits_, {&expected_, 1});
          if (!message) {
            failure = message.error().message;
            break;
          }
          uint64_t receivedBytes = frames[1].size();
          for (const zmq::message_t& frame : tensorFrames) receivedBytes += frame.size();
          zmq::message_t ack =
              encodeAck(message->requestId, message->epoch, message->sentAtMicros, receivedBytes, message->stage);
          last_ = std::move(*message);  // held until the next message, like a queued stage input
          return reply(socket, frames[0], std::move(ack));
        }
        default:
          failure = "not activations";
          break;
      }
    }
    reply(socket, frames[0], failureMessage(failure));
  }

  static zmq::message_t failureMessage(const std::string& detail) {
    capnp::MallocMessageBuilder builder;
    auto root = builder.initRoot<wire::DataMessage>();
    root.setVersion(wire::PROTOCOL_VERSION);
    auto failure = root.initFailure();
    failure.setReason(wire::Failure::Reason::BAD_MESSAGE);
    failure.setDetail(detail.substr(0, 256));
    return encodeMessage(builder);
  }

  static void reply(zmq::socket_t& socket, zmq::message_t& routingId, zmq::message_t message) {
    socket.send(routingId, zmq::send_flags::sndmore);
    socket.send(message, zmq::send_flags::none);
  }

  Variant variant_;
  Framing framing_;
  TensorType expected_;
  CurveKeyPair serverKeys_;
  std::string clientPublicKey_;
  TensorLimits limits_;
  zmq::context_t context_;  // before the thread: the thread's sockets live on it
  std::atomic<bool> stop_ = false;
  std::thread thread_;
  std::unique_ptr<std::byte, FreeDeleter> owned_;  // receiver thread only
  TensorMessage last_;                              // receiver thread only
  std::vector<double> handling_;                    // receiver thread until stop()
  int handled_ = 0;                                 // receiver thread only
};

// The sending end: a DEALER on its own context, in the benchmark's thread.
class Sender {
 public:
  Sender(Variant variant, Framing framing, Tensor tensor)
      : variant_(variant), framing_(framing), tensor_(std::move(tensor)) {}

  Status connect(const std::string& endpoint, const CurveKeyPair& own, const std::string& serverPublicKey) {
    if (variant_ == Variant::Zmq) {
      socket_ = zmq::socket_t(context_, zmq::socket_type::dealer);
      setPlainOptions(socket_);
    } else {
      Result<zmq::socket_t> client = makeCurveClient(context_, zmq::socket_type::dealer, own, serverPublicKey);
      if (!client) return client.error();
      socket_ = std::move(*client);
    }
    socket_.set(zmq::sockopt::rcvtimeo, SEND_RECEIVE_TIMEOUT_MS);
    socket_.set(zmq::sockopt::sndtimeo, SEND_RECEIVE_TIMEOUT_MS);
    socket_.connect(endpoint);
    return {};
  }

  // One whole transfer: send, wait for the acknowledgement, check it.
  Status transfer() { return variant_ == Variant::Cleave ? transferData() : transferRaw(); }

  // cleave only, per transfer: building and encoding the message; decoding and checking the ack.
  const std::vector<double>& encodeSeconds() const { return encode_; }
  const std::vector<double>& ackSeconds() const { return ack_; }
  void clearTimings() {
    encode_.clear();
    ack_.clear();
  }

 private:
  Status transferRaw() {
    if (framing_.headerBytes > 0) {
      zmq::message_t header(framing_.headerBytes);
      std::memset(header.data(), 0, header.size());
      if (!socket_.send(header, zmq::send_flags::sndmore)) return Error{"send timed out"};
    }
    // Zero copy, as cleave's tensor frames: the frame points into the tensor (never written).
    zmq::message_t frame(const_cast<std::byte*>(tensor_.raw()), tensor_.bytes(), nullptr);
    if (!socket_.send(frame, zmq::send_flags::none)) return Error{"send timed out"};
    zmq::message_t ack;
    if (!socket_.recv(ack)) return Error{"no acknowledgement within the timeout"};
    if (framing_.ackBytes > 0 ? ack.size() != framing_.ackBytes : ack.to_string_view() != "ok")
      return Error{"receiver refused the frame"};
    return {};
  }

  Status transferData() {
    const auto start = Clock::now();
    TensorMessage message = activationsMessage(tensor_, ++requestId_);
    Result<std::vector<zmq::message_t>> frames = encodeTensorMessage(message);
    if (!frames) return frames.error();
    encode_.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    uint64_t sentBytes = 0;
    for (size_t i = 0; i < frames->size(); ++i) {
      sentBytes += (*frames)[i].size();
      auto flags = i + 1 < frames->size() ? zmq::send_flags::sndmore : zmq::send_flags::none;
      if (!socket_.send((*frames)[i], flags)) return Error{"send timed out"};
    }
    zmq::message_t frame;
    if (!socket_.recv(frame)) return Error{"no acknowledgement within the timeout"};
    const auto received = Clock::now();
    Status checked = checkAck(frame, message, sentBytes);
    ack_.push_back(std::chrono::duration<double>(Clock::now() - received).count());
    return checked;
  }

  Variant variant_;
  Framing framing_;
  Tensor tensor_;
  zmq::context_t context_;  // before the socket
  zmq::socket_t socket_;
  uint64_t requestId_ = 0;
  std::vector<double> encode_;
  std::vector<double> ack_;
};

constexpr Variant VARIANTS[] = {Variant::Zmq, Variant::ZmqCurve, Variant::ZmqCurveFramed, Variant::Cleave};
constexpr const char* VARIANT_NAMES[] = {"zmq", "zmq_curve", "zmq_curve_framed", "cleave"};
constexpr size_t VARIANT_COUNT = std::size(VARIANTS);

// One variant's sender and receiver, connected and warmed up.
struct Link {
  std::unique_ptr<Receiver> receiver;
  std::unique_ptr<Sender> sender;
};

Result<Link> openLink(Variant variant, const Tensor& tensor) {
  Framing framing;
  if (variant == Variant::ZmqCurveFramed) {
    Result<std::vector<zmq::message_t>> frames = encodeTensorMessage(activationsMessage(tensor, 1));
    if (!frames) return frames.error();
    framing.headerBytes = (*frames)[0].size();
    framing.ackBytes = encodeAck(1, EPOCH, nowMicros(), framing.headerBytes + tensor.bytes(), STAGE).size();
  }
  Result<CurveKeyPair> serverKeys = generateKeyPair();
  if (!serverKeys) return serverKeys.error();
  Result<CurveKeyPair> clientKeys = generateKeyPair();
  if (!clientKeys) return clientKeys.error();
  Link link;
  link.receiver = std::make_unique<Receiver>(variant, framing, tensor.type(), *serverKeys, clientKeys->publicKey);
  Result<std::string> endpoint = link.receiver->start();
  if (!endpoint) return endpoint.error();
  link.sender = std::make_unique<Sender>(variant, framing, tensor);
  CLEAVE_TRY(link.sender->connect(*endpoint, *clientKeys, serverKeys->publicKey));
  for (int i = 0; i < WARMUP_TRANSFERS; ++i) CLEAVE_TRY(link.sender->transfer());
  link.sender->clearTimings();
  return link;
}

double median(std::vector<double> values) {
  auto middle = values.begin() + static_cast<ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), middle, values.end());
  return *middle;
}

// One iteration = one transfer on each variant's link, in an order that rotates every
// iteration, each timed on its own. Interleaving transfer by transfer means a burst of load from
// other processes on a shared machine hits every variant alike, so their ratios stay meaningful
// even when the absolute times move. The iteration time Benchmark reports is the sum over the
// variants; the counters carry the medians: `<variant>_us` per transfer, `<variant>_handle_us`
// of the receiver's handling, `cleave_encode_us` and `cleave_ack_us` of cleave's sender.
void transfer(benchmark::State& state) {
  Tensor tensor = Tensor::zeros(DType::F32, shapeOf(state.range(0)));
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (float& v : tensor.values<float>()) v = uniform(rng);

  std::vector<Link> links;
  for (Variant variant : VARIANTS) {
    Result<Link> link = openLink(variant, tensor);
    if (!link) return state.SkipWithError(link.error().message.c_str());
    links.push_back(std::move(*link));
  }

  std::array<std::vector<double>, VARIANT_COUNT> seconds;
  size_t rotation = 0;
  for (auto _ : state) {
    double total = 0;
    for (size_t k = 0; k < VARIANT_COUNT; ++k) {
      const size_t v = (rotation + k) % VARIANT_COUNT;
      const auto start = Clock::now();
      Status done = links[v].sender->transfer();
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      if (!done) return state.SkipWithError(fmt::format("{}: {}", VARIANT_NAMES[v], done.error().message).c_str());
      seconds[v].push_back(elapsed);
      total += elapsed;
    }
    rotation = (rotation + 1) % VARIANT_COUNT;
    state.SetIterationTime(total);
  }
  if (seconds[0].empty()) return;
  // Medians, not means: robust to the odd preempted transfer on a shared machine.
  for (size_t v = 0; v < VARIANT_COUNT; ++v) {
    const std::string name = VARIANT_NAMES[v];
    state.counters[name + "_us"] = median(seconds[v]) * 1e6;
    links[v].receiver->stop();
    if (!links[v].receiver->handlingSeconds().empty())
      state.counters[name + "_handle_us"] = median(links[v].receiver->handlingSeconds()) * 1e6;
    if (VARIANTS[v] == Variant::Cleave) {
      state.counters["cleave_encode_us"] = median(links[v].sender->encodeSeconds()) * 1e6;
      state.counters["cleave_ack_us"] = median(links[v].sender->ackSeconds()) * 1e6;
    }
  }
  state.counters["transfers"] = static_cast<double>(seconds[0].size());
}

BENCHMARK(transfer)->Arg(4 << 10)->Arg(64 << 10)->Arg(1 << 20)->ArgName("bytes")->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace cleave::proto

BENCHMARK_MAIN();

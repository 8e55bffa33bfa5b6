// cleave-soak: `make soak`. Starts a fleet of four agents and a daemon on 127.0.0.1 (cleavectl up,
// tools/soak/soak-fleet.toml: one link follows a bandwidth trace, so the fleet re-plans as it
// runs), sends Fashion-MNIST images open-loop at a steady rate through the operator API, checks
// every result against the single-process runtime bit for bit, SIGKILLs one agent every few
// minutes and restarts it, and reports per minute what came back once, twice, never or wrong,
// plus the resident memory of every process. Exits non-zero when any request was answered twice,
// lost or wrong. The fleet is always taken down, Ctrl-C and SIGTERM included.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "config/fleet_config.h"
#include "proto/tensor_frame.h"
#include "tools/soak/local_fleet.h"
#include "tools/soak/reference_outputs.h"
#include "tools/soak/soak_record.h"
#include "tools/soak/soak_report.h"

namespace fs = std::filesystem;
using namespace cleave;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t WARMUP_REQUESTS = 20;     // one at a time, before memory is first measured
constexpr int MAX_SENDS_PER_TURN = 100;   // after a stall the loop catches up in bounded bites
constexpr double DRAIN_MARGIN_SECONDS = 30;  // the daemon's own timeout is the lost bound plus this

struct Options {
  std::string topology = std::string(CLEAVE_SOURCE_DIR) + "/tools/soak/soak-fleet.toml";
  std::string model = std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-teacher";
  std::string state;
  std::string report = "build/soak/report.md";
  double minutes = 30;
  double rate = 20;
  double killEveryMinutes = 3;
  double downSeconds = 5;
  double lostAfterSeconds = 30;
  size_t images = 1000;
  bool killOrigin = false;
  bool pace = false;
};

double secondsBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// One soak run against a fleet that is up.
class Soak {
 public:
  Soak(const Options& options, soak::LocalFleet& fleet, cli::OperatorClient& client, cli::SignalPipe& signals,
       const soak::ReferenceSet& references, std::vector<std::string> rotation)
      : options_(options),
        fleet_(fleet),
        client_(client),
        signals_(signals),
        references_(references),
        rotation_(std::move(rotation)),
        record_(options.lostAfterSeconds) {}

  // Runs warm-up, the timed part and the drain. An error when interrupted or the session broke.
  Status run();
  // Memory at the end, the report and the summary; the exit code: 1 when a request was answered
  // twice, lost or wrong.
  int finish(const std::string& stateDir);

 private:
  double now() const { return secondsBetween(started_, Clock::now()); }
  Status warmUp();
  Status sendRequest(size_t image, bool counted);
  Status receiveFor(double seconds);
  void onReply(cli::OperatorReplyMessage& message);
  void onWatchEvent(wire::WatchEvent::Reader event);
  void actOnAgents();
  void closeMinute();
  bool interrupted() { return signals_.received().has_value(); }

  const Options& options_;
  soak::LocalFleet& fleet_;
  cli::OperatorClient& client_;
  cli::SignalPipe& signals_;
  const soak::ReferenceSet& references_;
  std::vector<std::string> rotation_;
  soak::SoakRecord record_;
  Clock::time_point started_ = Clock::now();
  uint64_t watchId_ = 0;
  uint64_t infersSent_ = 0;  // the daemon numbers infer requests 1, 2, ... as it receives them
  std::map<uint64_t, size_t> warmup_;  // request id -> image, answers not recorded
  std::vector<soak::MemoryRow> memory_;
  std::map<std::string, int> restarts_;
  size_t nextRotation_ = 0;
  double nextKill_ = 0;
  std::optional<std::pair<std::string, double>> restartDue_;  // agent, when
  int minutesClosed_ = 0;
  bool idMismatchReported_ = false;
};

Status Soak::sendRequest(size_t image, bool counted) {
  proto::WireTensor input{"", references_.inputs[image], std::nullopt, 1, 0};
  Result<uint64_t> id = client_.send([&](wire::OperatorRequest::Builder r, std::vector<zmq::message_t>& frames) -> Status {
    wire::Infer::Builder request = r.initInfer();
    // Longer than the lost bound, so a request the fleet forgot is seen as lost, not as the
    // daemon's "timed out" failure.
    request.setTimeoutSeconds(options_.lostAfterSeconds + DRAIN_MARGIN_SECONDS);
    Result<zmq::message_t> frame = proto::encodeTensor(input, request.initTensors(1)[0]);
    if (!frame) return frame.error();
    frames.push_back(std::move(*frame));
    return {};
  });
  if (!id) return id.error();
  ++infersSent_;
  if (counted) record_.sent(*id, image, infersSent_, now());
  else warmup_[*id] = image;
  return {};
}

Status Soak::receiveFor(double seconds) {
  Result<std::optional<cli::OperatorReplyMessage>> reply = client_.poll(std::max(0.0, seconds), signals_.fd());
  if (!reply) return reply.error();
  if (*reply) onReply(**reply);
  return {};
}

void Soak::onReply(cli::OperatorReplyMessage& message) {
  wire::OperatorReply::Reader reply = message.reply;
  if (reply.getId() == watchId_) {
    if (reply.isEvent()) onWatchEvent(reply.getEvent());
    return;
  }
  const double t = now();
  const bool warm = warmup_.erase(reply.getId()) > 0;
  auto entry = record_.requests().find(reply.getId());
  if (warm || entry == record_.requests().end()) return;  // warm-up, or another request's reply
  if (reply.isError()) {
    record_.answered(reply.getId(), soak::Answer::Failed, t, cli::replyErrorText(reply));
    return;
  }
  if (!reply.isInferResult() || reply.getInferResult().getTensors().size() != 1 || message.frames.size() != 1) {
    record_.answered(reply.getId(), soak::Answer::Failed, t, "not an inferResult with one tensor");
    return;
  }
  auto result = reply.getInferResult();
  if (result.getRequestId() != entry->second.daemonId && !idMismatchReported_) {
    idMismatchReported_ = true;  // another client is sending infers: daemon ids in the report are off
    fmt::print("note: request {} is the daemon's {}, not {}; another client sends requests too\n", reply.getId(),
               result.getRequestId(), entry->second.daemonId);
  }
  std::span<const std::byte> bytes(static_cast<const std::byte*>(message.frames[0].data()), message.frames[0].size());
  Result<proto::WireTensor> output = proto::decodeTensor(result.getTensors()[0], bytes, proto::TensorLimits{});
  const bool right = output && output->tensor.identical(references_.outputs[entry->second.image]);
  record_.answered(reply.getId(), right ? soak::Answer::Correct : soak::Answer::Wrong, t);
}

void Soak::onWatchEvent(wire::WatchEvent::Reader event) {
  const double t = now();
  if (event.isPlan()) {
    record_.replanned(t);
  } else if (event.isAgentUp() || event.isAgentDown()) {
    const std::string text = fmt::format("{} {}", cli::printable(event.isAgentUp() ? event.getAgentUp() : event.getAgentDown(), 64),
                                         event.isAgentUp() ? "up" : "down");
    record_.event(t, text);
    fmt::print("{:7.1f} s  daemon: {}\n", t, text);
  }
}

// Kills the next agent of the rotation when one is due, and restarts it `downSeconds` later.
void Soak::actOnAgents() {
  const double t = now();
  if (restartDue_ && t >= restartDue_->second) {
    const std::string name = restartDue_->first;
    if (Status ok = fleet_.restart(name); ok) {
      restartDue_.reset();
      ++restarts_[name];
      fleet_.noteInLog(name, fmt::format("restarted at {:.1f} s of the soak", t));
      record_.event(t, "restarted " + name);
      fmt::print("{:7.1f} s  restarted {}\n", t, name);
    } else {  // not gone yet: try again on the next turn (the kernel is still tearing it down)
      restartDue_->second = t + 0.1;
      fmt::print("{:7.1f} s  cannot restart {} yet: {}\n", t, name, ok.error().message);
    }
  }
  if (!restartDue_ && !rotation_.empty() && options_.killEveryMinutes > 0 && t >= nextKill_ &&
      t < options_.minutes * 60) {
    const std::string name = rotation_[nextRotation_++ % rotation_.size()];
    nextKill_ += options_.killEveryMinutes * 60;
    fleet_.noteInLog(name, fmt::format("SIGKILL at {:.1f} s of the soak", t));
    if (Status ok = fleet_.kill(name); ok) {
      restartDue_ = {name, t + options_.downSeconds};
      record_.event(t, "killed " + name);
      fmt::print("{:7.1f} s  SIGKILL {}\n", t, name);
    } else {
      record_.event(t, fmt::format("could not kill {}: {}", name, ok.error().message));
    }
  }
}

void Soak::closeMinute() {
  const double t = now();
  while (t >= 60.0 * (minutesClosed_ + 1)) {
    if (std::optional<uint64_t> rss = fleet_.rssKiB("daemon")) record_.daemonMemory(60.0 * minutesClosed_ + 30, *rss);
    const std::vector<soak::MinuteRow> rows = record_.minutes(t);
    fmt::print("{}\n", soak::minuteLine(rows[static_cast<size_t>(minutesClosed_)]));
    std::fflush(stdout);
    ++minutesClosed_;
  }
}

Status Soak::warmUp() {
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options_.lostAfterSeconds));
  for (size_t i = 0; i < WARMUP_REQUESTS; ++i) {
    CLEAVE_TRY(sendRequest(i % references_.inputs.size(), false));
    while (!warmup_.empty()) {
      if (interrupted()) return Error{"interrupted during warm-up"};
      if (Clock::now() > deadline)
        return Error{fmt::format("warm-up: no answer to request {} within {:.0f} s", warmup_.begin()->first,
                                 options_.lostAfterSeconds)};
      CLEAVE_TRY(receiveFor(secondsBetween(Clock::now(), deadline)));
    }
  }
  return {};
}

Status Soak::run() {
  Result<uint64_t> watch = client_.send([](wire::OperatorRequest::Builder r, std::vector<zmq::message_t>&) -> Status {
    auto w = r.initWatch();
    w.setPlans(true);
    w.setAgents(true);
    return {};
  });
  if (!watch) return watch.error();
  watchId_ = *watch;
  fmt::print("warm-up: {} requests, one at a time\n", WARMUP_REQUESTS);
  CLEAVE_TRY(warmUp());
  for (const std::string& name : fleet_.names()) memory_.push_back({name, fleet_.rssKiB(name), std::nullopt, 0});
  fmt::print("resident memory after warm-up:\n{}", soak::memoryLines(memory_, false));
  fmt::print("sending {:.1f} requests/s for {:g} min; SIGKILL every {:g} min over {}\n", options_.rate,
             options_.minutes, options_.killEveryMinutes, fmt::join(rotation_, ", "));
  std::fflush(stdout);

  started_ = Clock::now();
  nextKill_ = options_.killEveryMinutes * 60;
  const double end = options_.minutes * 60, period = 1.0 / options_.rate;
  double nextSend = 0;
  size_t image = 0;
  while (now() < end) {  // bounded by the clock; each turn waits at most until the next send
    if (interrupted()) return Error{"interrupted"};
    for (int n = 0; n < MAX_SENDS_PER_TURN && now() >= nextSend && nextSend < end; ++n, nextSend += period)
      CLEAVE_TRY(sendRequest(image++ % references_.inputs.size(), true));
    actOnAgents();
    closeMinute();
    double wake = std::min(nextSend, end);
    if (restartDue_) wake = std::min(wake, restartDue_->second);
    CLEAVE_TRY(receiveFor(wake - now()));
  }
  // Drain: every request is settled once answered or past the lost bound; a killed agent still
  // comes back first, so its log shows the restart.
  fmt::print("{:7.1f} s  stopped sending; waiting up to {:.0f} s for the last answers\n", now(),
             options_.lostAfterSeconds);
  const double drainEnd = now() + options_.lostAfterSeconds + 1;
  while (now() < drainEnd && (record_.totals(now()).pending > 0 || restartDue_)) {
    if (interrupted()) return Error{"interrupted"};
    actOnAgents();
    CLEAVE_TRY(receiveFor(std::min(0.5, drainEnd - now())));
  }
  // A reply to a later request: whatever the daemon sent before it (a second answer) is in by then.
  Result<uint64_t> status = client_.send([](wire::OperatorRequest::Builder r, std::vector<zmq::message_t>&) -> Status {
    r.setStatus();
    return {};
  });
  if (!status) return status.error();
  const auto statusDeadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < statusDeadline) {
    Result<std::optional<cli::OperatorReplyMessage>> reply = client_.poll(1.0, signals_.fd());
    if (!reply) return reply.error();
    if (!*reply) continue;
    if ((*reply)->reply.getId() == *status) {
      if ((*reply)->reply.isStatus()) {
        auto s = (*reply)->reply.getStatus();
        fmt::print("daemon: {} requests received, {} completed, {} failed, {} re-plans, {} messages dropped\n",
                   s.getRequestsReceived(), s.getRequestsCompleted(), s.getRequestsFailed(), s.getReplans(),
                   s.getDroppedMessages());
      }
      break;
    }
    onReply(**reply);
  }
  return {};
}

int Soak::finish(const std::string& stateDir) {
  const double t = now();
  if (std::optional<uint64_t> rss = fleet_.rssKiB("daemon")) record_.daemonMemory(t, *rss);
  // One row per minute of sending; what happened while the last answers drained joins the last.
  const std::vector<soak::MinuteRow> rows = record_.minutes(t, static_cast<size_t>(std::ceil(options_.minutes)));
  fmt::print("per minute, settled (requests by the minute they were sent):\n");
  for (const soak::MinuteRow& row : rows) fmt::print("  {}\n", soak::minuteLine(row));
  for (soak::MemoryRow& row : memory_) {
    row.endKiB = fleet_.rssKiB(row.name);
    row.restarts = restarts_[row.name];
  }
  fmt::print("resident memory, after warm-up -> at the end:\n{}", soak::memoryLines(memory_, true));

  soak::ReportHeader header{options_.topology, options_.model, references_.source, stateDir, options_.minutes, options_.rate,
                            options_.killEveryMinutes, options_.lostAfterSeconds, rotation_};
  std::error_code ec;
  fs::create_directories(fs::path(options_.report).parent_path(), ec);
  std::ofstream(options_.report) << soak::markdownReport(header, rows, record_, memory_, t);
  const std::string csv = fs::path(options_.report).replace_extension(".csv").string();
  std::ofstream(csv) << soak::csvTable(rows);
  fmt::print("report: {} (table also in {})\n", fs::absolute(options_.report).string(), fs::absolute(csv).string());

  const soak::Totals totals = record_.totals(t);
  if (totals.failed > 0) fmt::print("{} requests failed (the daemon answered with an error; see the report)\n", totals.failed);
  fmt::print("{}\n", soak::summaryLine(totals));
  return totals.twice > 0 || totals.lost > 0 || totals.wrong > 0 ? 1 : 0;
}

// The agents the soak kills in turn: every device but the source (its agent is the origin,
// which holds each request's input; docs/protocol.md has no re-run for the origin itself), or
// all of them with --kill-origin.
Result<std::vector<std::string>> killRotation(const Options& options) {
  Result<config::FleetConfig> fleet = config::loadFleetConfig(options.topology, options.model);
  if (!fleet) return fleet.error();
  std::vector<std::string> rotation;
  for (const planner::DeviceProfile& device : fleet->topology.fleet.devices)
    if (options.killOrigin || device.name != fleet->topology.model.source) rotation.push_back(device.name);
  return rotation;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"cleave-soak: a fleet under steady load for a long time, with agents killed and restarted"};
  app.add_option("--minutes", options.minutes, "How long to send requests (default 30)")->check(CLI::Range(0.1, 24 * 60.0));
  app.add_option("--rate", options.rate, "Requests per second, open loop (default 20)")->check(CLI::Range(0.1, 1000.0));
  app.add_option("--kill-every", options.killEveryMinutes, "Minutes between two agent kills (default 3; 0: none)")
      ->check(CLI::Range(0.0, 24 * 60.0));
  app.add_option("--down-seconds", options.downSeconds, "How long a killed agent stays down (default 5)")
      ->check(CLI::Range(0.0, 600.0));
  app.add_option("--lost-after", options.lostAfterSeconds, "Seconds without an answer after which a request is lost (default 30)")
      ->check(CLI::Range(1.0, 600.0));
  app.add_flag("--kill-origin", options.killOrigin, "Kill the source device's agent (the origin) in turn too");
  app.add_option("--config", options.topology, "Topology (default: tools/soak/soak-fleet.toml)");
  app.add_option("--model", options.model, "Bundle (default: models/fmnist-teacher)");
  app.add_option("--images", options.images, "How many test images to cycle through (default 1000)")->check(CLI::Range(1, 10000));
  app.add_flag("--pace", options.pace, "Pace each stage to the declared board's speed (cleavectl up --pace)");
  app.add_option("--state", options.state, "State folder for the fleet (default: a temporary one, kept when the soak fails)");
  app.add_option("--report", options.report, "Markdown report; the table also goes to the same name with .csv");
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines reach a log or `tee` as they happen

  Result<std::vector<std::string>> rotation = killRotation(options);
  if (!rotation) return fmt::print(stderr, "cleave-soak: {}\n", rotation.error().message), 1;
  fmt::print("computing reference outputs with the single-process runtime\n");
  std::fflush(stdout);
  Result<soak::ReferenceSet> references = soak::loadReferences(options.model, options.images);
  if (!references) return fmt::print(stderr, "cleave-soak: {}\n", references.error().message), 1;
  fmt::print("inputs: {}\n", references->source);

  const bool temporary = options.state.empty();
  if (temporary) {
    std::string pattern = (fs::temp_directory_path() / "cleave-soak-XXXXXX").string();
    if (!mkdtemp(pattern.data())) return fmt::print(stderr, "cleave-soak: cannot make a temporary folder\n"), 1;
    options.state = pattern;
  }
  // Before `up`, so a Ctrl-C while it runs cannot kill us before we take the fleet down.
  Result<std::unique_ptr<cli::SignalPipe>> signals = cli::SignalPipe::install();
  if (!signals) return fmt::print(stderr, "cleave-soak: {}\n", signals.error().message), 1;

  int exitCode = 1;
  {
    fmt::print("starting the fleet: cleavectl up {} --model {}\n", options.topology, options.model);
    std::fflush(stdout);
    Result<std::unique_ptr<soak::LocalFleet>> fleet =
        soak::LocalFleet::up({CLEAVECTL_PATH, CLEAVE_AGENT_PATH}, options.topology, options.model, options.state, options.pace);
    if (!fleet) {
      fmt::print(stderr, "cleave-soak: {}\n", fleet.error().message);
      return 1;  // `up` stops what it started; LocalFleet::up's partial fleet went down with the Result
    }
    Result<cli::OperatorTarget> target = (*fleet)->operatorTarget();
    Result<std::unique_ptr<cli::OperatorClient>> client =
        target ? cli::OperatorClient::connect(*target, 10.0, "cleave-soak")
               : Result<std::unique_ptr<cli::OperatorClient>>(target.error());
    if (!client) {
      fmt::print(stderr, "cleave-soak: {}\n", client.error().message);
    } else {
      Soak soak(options, **fleet, **client, **signals, *references, *rotation);
      Status ran = soak.run();
      if (!ran) fmt::print(stderr, "cleave-soak: {}\n", ran.error().message);
      const int verdict = soak.finish(options.state);
      exitCode = ran ? verdict : 1;
    }
    fmt::print("stopping the fleet\n");
    std::fflush(stdout);
    (*fleet)->down();
  }
  if (temporary && exitCode == 0) fs::remove_all(options.state);
  else fmt::print("fleet state and logs kept in {}\n", options.state);
  return exitCode;
}

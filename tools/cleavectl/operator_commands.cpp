#include "tools/cleavectl/operator_commands.h"
#include "tools/cleavectl/plan_file.h"

#include <fmt/format.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <regex>
#include <set>

#include "config/bandwidth_trace.h"
#include "planner/units.h"
#include "proto/wire_names.h"
#include "proto/message_codec.h"
#include "runtime/npy.h"
#include "tools/cleavectl/operator_client.h"

namespace cleave::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t MAX_NAME = 64;               // agent names on the wire
constexpr int MAX_REPEAT = 1000;              // pipelined infer requests in flight at once
constexpr double INFER_MARGIN_SECONDS = 2.0;  // the daemon's own infer timeout answers first
constexpr size_t MAX_ARGMAX_ROWS = 16;

int fail(const std::string& message) {
  fmt::print(stderr, "cleavectl: error: {}\n", message);
  return 1;
}

// The options every operator command shares, set on the top-level app.
struct GlobalOptions {
  ConnectionOptions connection;
  std::string timeout;  // text, checked by parseTimeout for a one-line error
};

Result<ConnectionOptions> connectionOptions(const GlobalOptions& global) {
  ConnectionOptions options = global.connection;
  if (!global.timeout.empty()) {
    Result<double> timeout = parseTimeout(global.timeout);
    if (!timeout) return timeout.error();
    options.timeoutSeconds = *timeout;
  }
  return options;
}

Result<std::unique_ptr<OperatorClient>> openSession(const ConnectionOptions& options) {
  Result<OperatorTarget> target = resolveTarget(options);
  if (!target) return target.error();
  return OperatorClient::connect(*target, options.timeoutSeconds);
}

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

Status checkAgentName(const std::string& name, std::string_view what) {
  if (name.empty() || name.size() > MAX_NAME)
    return Error{fmt::format("{}: a device name must be 1 to {} characters", what, MAX_NAME)};
  if (!std::all_of(name.begin(), name.end(), isNameChar))
    return Error{fmt::format("{}: '{}' may hold only letters, digits, '_' and '-'", what, name)};
  return {};
}

std::vector<std::string> splitCommas(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    part.erase(0, part.find_first_not_of(' '));
    part.erase(part.find_last_not_of(' ') + 1);
    parts.push_back(part);
    if (comma == std::string::npos) return parts;
    start = comma + 1;
  }
}

std::string yesNo(bool value) { return value ? "yes" : "no"; }

std::string nodesText(int64_t first, int64_t end) {
  if (end <= first) return "(relay)";
  return fmt::format("{}..{}", first, end - 1);
}

std::string linkSourceText(wire::LinkEstimate::Source source) {
  switch (source) {
    case wire::LinkEstimate::Source::PASSIVE:
      return "passive";
    case wire::LinkEstimate::Source::PROBE:
      return "probe";
  }
  return fmt::format("source {}", static_cast<uint16_t>(source));
}

std::string timestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  struct tm local {};
  localtime_r(&seconds, &local);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &local);
  return fmt::format("{}.{:03d}", text, static_cast<int>(millis));
}

// A reply's union member must be the one the request asks for.
Status expectReply(const OperatorReplyMessage& message, wire::OperatorReply::Which which, std::string_view what) {
  if (message.reply.which() != which)
    return Error{fmt::format("the daemon answered {} with an unexpected reply (kind {})", what,
                             static_cast<uint16_t>(message.reply.which()))};
  return {};
}

// Runs one request on a fresh session and prints its reply with `print` (which reads Cap'n
// Proto readers, so it runs under decodeGuard).
int simpleRequest(const GlobalOptions& global, std::string_view what,
                  const std::function<void(wire::OperatorRequest::Builder)>& fill, wire::OperatorReply::Which which,
                  const std::function<Result<std::string>(wire::OperatorReply::Reader)>& print) {
  Result<ConnectionOptions> options = connectionOptions(global);
  if (!options) return fail(options.error().message);
  Result<std::unique_ptr<OperatorClient>> client = openSession(*options);
  if (!client) return fail(client.error().message);
  Result<OperatorReplyMessage> reply = (*client)->request(
      [&](wire::OperatorRequest::Builder request, std::vector<zmq::message_t>&) -> Status {
        fill(request);
        return {};
      },
      what);
  if (!reply) return fail(reply.error().message);
  if (Status ok = expectReply(*reply, which, what); !ok) return fail(ok.error().message);
  Result<std::string> text = proto::decodeGuard(what, [&] { return print(reply->reply); });
  if (!text) return fail(text.error().message);
  fmt::print("{}", *text);
  return 0;
}

// --- status, agents, plan, replan, link set ---------------------------------------------------

int status(const GlobalOptions& global) {
  return simpleRequest(
      global, "status", [](wire::OperatorRequest::Builder r) { r.setStatus(); }, wire::OperatorReply::STATUS,
      [](wire::OperatorReply::Reader reply) -> Result<std::string> { return formatStatus(reply.getStatus()); });
}

int agents(const GlobalOptions& global) {
  return simpleRequest(
      global, "agents", [](wire::OperatorRequest::Builder r) { r.setAgents(); }, wire::OperatorReply::AGENTS,
      [](wire::OperatorReply::Reader reply) -> Result<std::string> { return formatAgents(reply.getAgents()); });
}

int planShow(const GlobalOptions& global) {
  return simpleRequest(
      global, "plan show", [](wire::OperatorRequest::Builder r) { r.setPlanShow(); }, wire::OperatorReply::PLAN,
      [](wire::OperatorReply::Reader reply) -> Result<std::string> { return formatPlan(reply.getPlan()); });
}

struct PlanApplyOptions {
  std::string file;  // a plan file, or:
  std::string route;
  std::string cuts;
  bool dryRun = false;
};

// The plan to send: from the file, or from --route and --cuts.
Result<std::string> planToApply(const PlanApplyOptions& options) {
  if (!options.file.empty()) {
    if (!options.route.empty() || !options.cuts.empty())
      return Error{"plan apply: give a plan file or --route and --cuts, not both"};
    return planFileToml(options.file);
  }
  if (options.route.empty()) return Error{"plan apply: give a plan file (TOML or JSON) or --route and --cuts"};
  Result<std::vector<std::string>> route = parseRoute(options.route);
  if (!route) return route.error();
  Result<std::vector<int64_t>> cuts = parseCuts(options.cuts);
  if (!cuts) return cuts.error();
  return planApplyToml(*route, *cuts);
}

int planApply(const GlobalOptions& global, const PlanApplyOptions& options) {
  Result<std::string> toml = planToApply(options);
  if (!toml) return fail(toml.error().message);
  const bool dryRun = options.dryRun;
  return simpleRequest(
      global, "plan apply",
      [&](wire::OperatorRequest::Builder r) {
        wire::PlanApply::Builder apply = r.initPlanApply();
        apply.setToml(*toml);
        apply.setDryRun(dryRun);
      },
      wire::OperatorReply::PLAN,
      [dryRun](wire::OperatorReply::Reader reply) -> Result<std::string> {
        std::string text = formatPlan(reply.getPlan());
        if (dryRun) text += "dry run: checked and costed by the daemon, not installed\n";
        return text;
      });
}

int replan(const GlobalOptions& global, bool force) {
  return simpleRequest(
      global, "replan", [force](wire::OperatorRequest::Builder r) { r.initReplan().setForce(force); },
      wire::OperatorReply::PLAN,
      [force](wire::OperatorReply::Reader reply) -> Result<std::string> {
        std::string text = formatPlan(reply.getPlan());
        if (!reply.getPlan().getInstalled() && !force)
          text +=
              "no new plan: nothing beats the current one by the hysteresis margin "
              "(`replan --force` installs the planner's best plan anyway)\n";
        return text;
      });
}

struct LinkSetOptions {
  std::string from, to;
  std::string bandwidth, rtt, trace;
  bool clear = false;
};

// `link set` pins the daemon's estimate of FROM -> TO; `link shape` shapes the link in FROM's
// agent (tests and demos).
int linkCommand(const GlobalOptions& global, const LinkSetOptions& options, bool shape) {
  const std::string command = shape ? "link shape" : "link set";
  if (Status ok = checkAgentName(options.from, command); !ok) return fail(ok.error().message);
  if (Status ok = checkAgentName(options.to, command); !ok) return fail(ok.error().message);
  if (options.from == options.to) return fail(command + ": FROM and TO must be two different devices");
  Result<LinkShapeArgs> figures =
      parseLinkShape(command, options.bandwidth, options.rtt, options.clear, !options.trace.empty());
  if (!figures) return fail(figures.error().message);
  std::optional<config::BandwidthTrace> trace;
  if (!options.trace.empty()) {
    Result<config::BandwidthTrace> loaded = config::BandwidthTrace::load(options.trace);
    if (!loaded) return fail(loaded.error().message);
    if (loaded->points().size() > 10000) return fail(fmt::format("{}: more than 10000 rows", options.trace));
    trace = std::move(*loaded);
  }
  return simpleRequest(
      global, command,
      [&](wire::OperatorRequest::Builder r) {
        wire::LinkSet::Builder set = r.initLinkSet();
        set.setFrom(options.from);
        set.setTo(options.to);
        if (!shape && options.clear) {
          set.setClear();
        } else if (!shape) {
          wire::LinkPin::Builder pin = set.initPin();
          pin.setBytesPerSecond(figures->bytesPerSecond);
          pin.setRttSeconds(figures->rttSeconds);
        } else {
          wire::LinkShape::Builder link = set.initShape();
          link.setPeer(options.to);
          link.setBytesPerSecond(figures->bytesPerSecond);
          link.setRttSeconds(std::max(0.0, figures->rttSeconds));
          if (trace) {
            auto points = link.initTrace(static_cast<unsigned>(trace->points().size()));
            for (unsigned i = 0; i < points.size(); ++i) {
              const config::TracePoint& p = trace->points()[i];
              points[i].setSeconds(p.timeSeconds);
              points[i].setBytesPerSecond(p.bitsPerSecond / 8);
              points[i].setRttSeconds(p.rttSeconds);
            }
          }
        }
      },
      wire::OperatorReply::DONE,
      [&](wire::OperatorReply::Reader) -> Result<std::string> {
        const std::string link = fmt::format("link {} -> {}", options.from, options.to);
        const std::string rtt = figures->rttSeconds >= 0 ? ", rtt " + planner::formatSeconds(figures->rttSeconds) : "";
        if (shape && options.clear) return link + ": shaping removed\n";
        if (shape && trace) return fmt::format("{}: shaped by {} ({} rows)\n", link, options.trace, trace->points().size());
        if (shape) return fmt::format("{}: shaped to {}{}\n", link, planner::formatBandwidth(figures->bytesPerSecond), rtt);
        if (options.clear) return link + ": pin released; the agents' measurements count again\n";
        return fmt::format("{}: the daemon plans with {}{} until `link set {} {} --clear`\n", link,
                           planner::formatBandwidth(figures->bytesPerSecond), rtt, options.from, options.to);
      });
}

// --- infer -------------------------------------------------------------------------------------

struct InferOptions {
  std::string input;
  std::string output;
  std::string repeat = "1";  // text, for a one-line error
};

Result<int> parseRepeat(const std::string& text) {
  if (text.empty() || text.size() > 9 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return Error{fmt::format("--repeat: '{}' is not a whole number", text)};
  int value = std::stoi(text);
  if (value < 1 || value > MAX_REPEAT)
    return Error{fmt::format("--repeat: {} is out of range [1, {}]", value, MAX_REPEAT)};
  return value;
}

// One completed request.
struct InferOutcome {
  uint64_t requestId = 0;
  uint64_t epoch = 0;
  double latencySeconds = 0;    // the daemon's, submit to completion
  double roundTripSeconds = 0;  // ours, send to reply
  uint32_t exitStage = 0;
  std::vector<proto::WireTensor> outputs;
  std::vector<std::string> zeroedInputs;  // a degraded result: what it was computed without
};

Result<InferOutcome> readInferResult(const OperatorReplyMessage& message) {
  return proto::decodeGuard("inferResult", [&]() -> Result<InferOutcome> {
    wire::InferResult::Reader result = message.reply.getInferResult();
    InferOutcome outcome;
    outcome.requestId = result.getRequestId();
    outcome.epoch = result.getEpoch();
    outcome.latencySeconds = result.getLatencySeconds();
    outcome.exitStage = result.getExitStage();
    for (auto name : result.getZeroedInputs()) outcome.zeroedInputs.push_back(printable(name, MAX_NAME));
    auto headers = result.getTensors();
    proto::TensorLimits limits;
    if (headers.size() > limits.maxTensors)
      return Error{fmt::format("inferResult: {} tensors exceed the limit of {}", headers.size(), limits.maxTensors)};
    if (headers.size() != message.frames.size())
      return Error{fmt::format("inferResult: {} tensor headers but {} frames", headers.size(), message.frames.size())};
    for (size_t i = 0; i < headers.size(); ++i) {
      std::span<const std::byte> bytes(static_cast<const std::byte*>(message.frames[i].data()),
                                       message.frames[i].size());
      Result<proto::WireTensor> tensor = proto::decodeTensor(headers[i], bytes, limits);
      if (!tensor) return Error{fmt::format("inferResult: output {}: {}", i, tensor.error().message)};
      outcome.outputs.push_back(std::move(*tensor));
    }
    return outcome;
  });
}

int infer(const GlobalOptions& global, const InferOptions& options) {
  Result<int> repeatCount = parseRepeat(options.repeat);
  if (!repeatCount) return fail(repeatCount.error().message);
  const int repeat = *repeatCount;
  Result<ConnectionOptions> connection = connectionOptions(global);
  if (!connection) return fail(connection.error().message);
  Result<Tensor> input = readNpy(options.input);
  if (!input) return fail(input.error().message);
  Result<std::unique_ptr<OperatorClient>> session = openSession(*connection);
  if (!session) return fail(session.error().message);
  OperatorClient& client = **session;

  // The tensor goes without a name: the daemon binds it to the model's single input, whose name
  // only the daemon knows. Every request shares the tensor's storage (frames are never written).
  proto::WireTensor wire{"", *input, std::nullopt, input->rank() >= 2 ? 1u : 0u, 0};
  const double timeout = connection->timeoutSeconds;
  std::map<uint64_t, Clock::time_point> outstanding;  // id -> when it was sent
  for (int i = 0; i < repeat; ++i) {
    Result<uint64_t> id =
        client.send([&](wire::OperatorRequest::Builder r, std::vector<zmq::message_t>& frames) -> Status {
          wire::Infer::Builder request = r.initInfer();
          request.setTimeoutSeconds(timeout);
          Result<zmq::message_t> frame = proto::encodeTensor(wire, request.initTensors(1)[0]);
          if (!frame) return Error{fmt::format("{}: {}", options.input, frame.error().message)};
          frames.push_back(std::move(*frame));
          return {};
        });
    if (!id) return fail(id.error().message);
    outstanding.emplace(*id, Clock::now());
  }

  std::map<uint64_t, InferOutcome> done;  // by operator request id, so "first" is stable
  std::vector<std::string> failures;
  const auto started = Clock::now();
  while (!outstanding.empty()) {
    Result<std::optional<OperatorReplyMessage>> reply = client.receive(timeout + INFER_MARGIN_SECONDS, "infer");
    if (!reply) return fail(reply.error().message);
    if (!reply->has_value()) continue;
    OperatorReplyMessage& message = **reply;
    auto sent = outstanding.find(message.reply.getId());
    if (sent == outstanding.end()) continue;  // not ours (a stale id); cannot happen on a fresh session
    const double roundTrip = std::chrono::duration<double>(Clock::now() - sent->second).count();
    const uint64_t id = sent->first;
    outstanding.erase(sent);
    if (message.reply.which() == wire::OperatorReply::ERROR) {
      Result<std::string> text =
          proto::decodeGuard("infer", [&]() -> Result<std::string> { return replyErrorText(message.reply); });
      failures.push_back(text ? *text : text.error().message);
      continue;
    }
    if (Status ok = expectReply(message, wire::OperatorReply::INFER_RESULT, "infer"); !ok) {
      failures.push_back(ok.error().message);
      continue;
    }
    Result<InferOutcome> outcome = readInferResult(message);
    if (!outcome) {
      failures.push_back(outcome.error().message);
      continue;
    }
    outcome->roundTripSeconds = roundTrip;
    done.emplace(id, std::move(*outcome));
  }
  const double wall = std::chrono::duration<double>(Clock::now() - started).count();

  if (!done.empty()) {
    const InferOutcome& first = done.begin()->second;
    fmt::print("request {}, epoch {}: latency {} (daemon, submit to completion), round trip {}, exit stage {}\n",
               first.requestId, first.epoch, planner::formatSeconds(first.latencySeconds),
               planner::formatSeconds(first.roundTripSeconds), first.exitStage);
    if (!first.zeroedInputs.empty())
      fmt::print("degraded: computed without {} (zeros in their place; the plan could not place their stages)\n",
                 fmt::join(first.zeroedInputs, ", "));
    for (size_t i = 0; i < first.outputs.size(); ++i) fmt::print("{}\n", outputSummary(first.outputs[i], i));
    if (!options.output.empty()) {
      if (first.outputs.empty()) return fail("the result has no outputs to write");
      if (Status written = writeNpy(options.output, first.outputs[0].tensor); !written)
        return fail(written.error().message);
      fmt::print("wrote {}{}\n", options.output,
                 first.outputs.size() > 1 ? fmt::format(" (output 0 of {})", first.outputs.size()) : "");
    }
  }
  if (repeat > 1 && !done.empty()) {
    std::vector<double> latency, roundTrip;
    for (const auto& [id, outcome] : done) {
      latency.push_back(outcome.latencySeconds);
      roundTrip.push_back(outcome.roundTripSeconds);
    }
    fmt::print("{} requests pipelined in {} ({:.1f}/s)\n", done.size(), planner::formatSeconds(wall),
               static_cast<double>(done.size()) / wall);
    fmt::print("latency (daemon):  p50 {}, p95 {}\n", planner::formatSeconds(percentile(latency, 50)),
               planner::formatSeconds(percentile(latency, 95)));
    fmt::print("round trip (ours): p50 {}, p95 {}\n", planner::formatSeconds(percentile(roundTrip, 50)),
               planner::formatSeconds(percentile(roundTrip, 95)));
  }
  if (!failures.empty()) {
    if (repeat == 1) return fail(fmt::format("daemon: {}", failures[0]));
    return fail(fmt::format("{} of {} requests failed; the first: {}", failures.size(), repeat, failures[0]));
  }
  return 0;
}

// --- watch -------------------------------------------------------------------------------------

struct WatchOptions {
  bool plans = false, agents = false, telemetry = false;
};

int watch(const GlobalOptions& global, const WatchOptions& options) {
  WatchOptions what = options;
  if (!what.plans && !what.agents && !what.telemetry) what = {true, true, true};
  Result<ConnectionOptions> connection = connectionOptions(global);
  if (!connection) return fail(connection.error().message);
  Result<std::unique_ptr<OperatorClient>> session = openSession(*connection);
  if (!session) return fail(session.error().message);
  OperatorClient& client = **session;
  Result<std::unique_ptr<SignalPipe>> signals = SignalPipe::install();
  if (!signals) return fail(signals.error().message);

  Result<uint64_t> id = client.send([&](wire::OperatorRequest::Builder r, std::vector<zmq::message_t>&) -> Status {
    wire::Watch::Builder w = r.initWatch();
    w.setPlans(what.plans);
    w.setAgents(what.agents);
    w.setTelemetry(what.telemetry);
    return {};
  });
  if (!id) return fail(id.error().message);
  std::fflush(stdout);
  while (true) {
    // No timeout: a quiet fleet sends nothing for a long time. A dead daemon shows up as a
    // disconnect (ZMTP heartbeats), which ends the watch.
    Result<std::optional<OperatorReplyMessage>> reply = client.receive(-1, "watch", (*signals)->fd());
    if (!reply) return fail(reply.error().message);
    if (!reply->has_value()) return 0;  // SIGINT or SIGTERM: a normal way to stop watching
    OperatorReplyMessage& message = **reply;
    if (message.reply.getId() != *id) continue;
    Result<std::string> line = proto::decodeGuard("watch", [&]() -> Result<std::string> {
      switch (message.reply.which()) {
        case wire::OperatorReply::ERROR:
          return Error{fmt::format("daemon: {}", replyErrorText(message.reply))};
        case wire::OperatorReply::EVENT:
          return formatWatchEvent(message.reply.getEvent());
        case wire::OperatorReply::DONE:
          return std::string();
        default:
          return Error{fmt::format("the daemon answered watch with an unexpected reply (kind {})",
                                   static_cast<uint16_t>(message.reply.which()))};
      }
    });
    if (!line) return fail(line.error().message);
    if (!line->empty()) fmt::print("{}  {}\n", timestamp(), *line);
    std::fflush(stdout);
    if (message.reply.getFinal()) {
      fmt::print(stderr, "cleavectl: the daemon ended the watch\n");
      return 0;
    }
  }
}

// CLI11 has no getter for an App's callback; a derived class may name the protected member, so
// `plan show` and `plan apply` can wrap the existing `plan CONFIG` command instead of replacing it.
struct CallbackAccess : CLI::App {
  static std::function<void()>& finalCallback(CLI::App& app) { return app.*(&CallbackAccess::final_callback_); }
};

// The `plan` command: the existing offline planner (`plan CONFIG`) gains `show` and `apply`.
// Its CONFIG becomes optional so that `plan show` parses, and is required again (same error
// as before) when no subcommand is given; the offline planner does not run after a subcommand.
CLI::App* planCommand(CLI::App& app) {
  std::vector<CLI::App*> found = app.get_subcommands([](CLI::App* sub) { return sub->get_name() == "plan"; });
  if (found.empty()) {
    CLI::App* plan = app.add_subcommand("plan", "Show or apply the fleet's plan");
    plan->require_subcommand(1);
    return plan;
  }
  CLI::App* plan = found.front();
  CLI::Option* config = plan->get_option_no_throw("config");
  std::function<void()> offline = std::move(CallbackAccess::finalCallback(*plan));
  if (config != nullptr) config->required(false);
  plan->callback([plan, config, offline] {
    if (!plan->get_subcommands().empty()) return;
    if (config != nullptr && config->count() == 0) throw CLI::RequiredError(config->get_name());
    if (offline) offline();
  });
  return plan;
}

}  // namespace

// --- pure helpers ------------------------------------------------------------------------------

Result<std::vector<std::string>> parseRoute(const std::string& text) {
  if (text.empty()) return Error{"--route: give the devices of the route, source first: --route camera,pi1,cloud"};
  std::vector<std::string> route = splitCommas(text);
  std::set<std::string> seen;
  for (const std::string& name : route) {
    CLEAVE_TRY(checkAgentName(name, "--route"));
    if (!seen.insert(name).second) return Error{fmt::format("--route: '{}' appears twice", name)};
  }
  return route;
}

Result<std::vector<int64_t>> parseCuts(const std::string& text) {
  std::vector<int64_t> cuts;
  if (text.empty()) return cuts;
  for (const std::string& part : splitCommas(text)) {
    if (part.empty() || part.size() > 18 ||
        !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return Error{fmt::format("--cuts: '{}' is not a node position (a whole number >= 0)", part)};
    int64_t cut = std::stoll(part);
    if (!cuts.empty() && cut < cuts.back())
      return Error{fmt::format("--cuts: {} comes after {}; cut positions must not decrease", cut, cuts.back())};
    cuts.push_back(cut);
  }
  return cuts;
}

Result<std::string> planApplyToml(const std::vector<std::string>& route, const std::vector<int64_t>& cuts) {
  if (route.empty()) return Error{"--route: the route needs at least one device"};
  if (cuts.size() + 1 != route.size())
    return Error{fmt::format("--cuts: a route of {} devices needs {} cut position{}, not {}", route.size(),
                             route.size() - 1, route.size() == 2 ? "" : "s", cuts.size())};
  for (const std::string& name : route) CLEAVE_TRY(checkAgentName(name, "--route"));
  std::vector<std::string> quoted;
  for (const std::string& name : route) quoted.push_back(fmt::format("\"{}\"", name));  // names need no escaping
  return fmt::format("strategy = \"split\"\nroute = [{}]\ncuts = [{}]\n", fmt::join(quoted, ", "),
                     fmt::join(cuts, ", "));
}

Result<LinkShapeArgs> parseLinkShape(const std::string& command, const std::string& bandwidth, const std::string& rtt,
                                     bool clear, bool haveTrace) {
  if (clear) {
    if (!bandwidth.empty() || !rtt.empty() || haveTrace)
      return Error{fmt::format("{}: --clear takes no --bandwidth, --rtt or --trace", command)};
    return LinkShapeArgs{};
  }
  if (haveTrace) {
    if (!bandwidth.empty() || !rtt.empty())
      return Error{fmt::format("{}: --trace replaces --bandwidth and --rtt", command)};
    return LinkShapeArgs{};
  }
  if (bandwidth.empty())
    return Error{fmt::format("{}: give --bandwidth RATE (and optionally --rtt TIME){}, or --clear", command,
                             command == "link shape" ? ", or --trace FILE" : "")};
  LinkShapeArgs shape;
  Result<double> rate = planner::parseBandwidth(bandwidth);
  if (!rate) return Error{fmt::format("--bandwidth: {}", rate.error().message)};
  if (!(*rate > 0) || !std::isfinite(*rate)) return Error{"--bandwidth: must be more than 0"};
  shape.bytesPerSecond = *rate;
  if (!rtt.empty()) {
    Result<double> seconds = planner::parseSeconds(rtt);
    if (!seconds) return Error{fmt::format("--rtt: {}", seconds.error().message)};
    if (!(*seconds >= 0) || !std::isfinite(*seconds)) return Error{"--rtt: must be 0 or more"};
    shape.rttSeconds = *seconds;
  }
  return shape;
}

std::string formatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows)
    for (size_t i = 0; i < row.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], row[i].size());
    }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0.0;
  std::sort(values.begin(), values.end());
  double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
  size_t index = static_cast<size_t>(std::clamp(rank, 1.0, static_cast<double>(values.size()))) - 1;
  return values[index];
}

std::string strategyText(wire::Strategy strategy) {
  std::string_view name = proto::strategyName(strategy);
  return name != "unknown" ? std::string(name) : fmt::format("strategy {}", static_cast<uint16_t>(strategy));
}

std::string planLine(wire::PlanSummary::Reader plan);

std::string formatStatus(wire::FleetStatus::Reader status) {
  const bool planned = status.getEpoch() > 0;
  std::vector<std::pair<std::string, std::string>> lines = {
      {"epoch", planned ? std::to_string(status.getEpoch()) : "0 (no plan yet)"},
      {"strategy", planned ? strategyText(status.getStrategy()) : "-"},
      {"agents online", fmt::format("{}/{}", status.getAgentsOnline(), status.getAgentsKnown())},
      {"requests received", std::to_string(status.getRequestsReceived())},
      {"requests completed", std::to_string(status.getRequestsCompleted())},
      {"requests failed", std::to_string(status.getRequestsFailed())},
      {"dropped messages", std::to_string(status.getDroppedMessages())},
      {"refused connections", std::to_string(status.getRefusedConnections())},
      {"re-plans", std::to_string(status.getReplans())},
      {"predicted latency", planned ? planner::formatSeconds(status.getPredictedLatencySeconds()) : "-"},
      {"plan", planned && status.hasPlan() ? planLine(status.getPlan()) : "-"},
  };
  size_t width = 0;
  for (const auto& [key, value] : lines) width = std::max(width, key.size() + 1);
  std::string out;
  for (const auto& [key, value] : lines) out += fmt::format("{:<{}} {}\n", key + ":", width, value);
  return out;
}

std::string formatAgents(capnp::List<wire::AgentInfo>::Reader agents) {
  std::vector<std::vector<std::string>> rows = {
      {"name", "online", "last seen", "epoch", "stages", "queue", "fingerprint", "endpoint", "kind", "conv MAC/s"}};
  std::string stalls;  // one line per stalled agent, after the table
  for (wire::AgentInfo::Reader agent : agents) {
    const bool stalled = agent.getOnline() && agent.getStalled().size() > 0;
    if (stalled)
      stalls += fmt::format("{}: compute stalled: {}\n", printable(agent.getName(), MAX_NAME),
                            printable(agent.getStalled(), 256));
    wire::DeviceProfile::Reader profile = agent.getProfile();
    const double seen = agent.getLastSeenSeconds();
    const double conv = profile.getMacsPerSecond().getConv();
    std::string kind = printable(profile.getKind(), 32);
    if (profile.getMeasured()) kind += " (measured)";
    rows.push_back({printable(agent.getName(), MAX_NAME), stalled ? "stalled" : yesNo(agent.getOnline()),
                    seen > 0 ? planner::formatSeconds(seen) + " ago" : "never", std::to_string(agent.getEpoch()),
                    agent.getStages().size() > 0 ? printable(agent.getStages(), 128) : "-",
                    std::to_string(agent.getQueueDepth()), printable(agent.getFingerprint(), 64),
                    agent.getDataEndpoint().size() > 0 ? printable(agent.getDataEndpoint()) : "-",
                    kind.empty() ? "-" : kind, conv > 0 ? planner::formatRate(conv) : "-"});
  }
  return formatTable(rows) + stalls;
}

namespace {

// early_exit: "block 0 at 0.9 (78.1%), block 1 at 0.95 (12.0%), block 2 (9.9%)": each exit's
// threshold and the share of requests expected to finish there.
std::string exitsText(wire::PlanSummary::Reader plan) {
  std::vector<std::string> exits;
  auto thresholds = plan.getExitThresholds();
  auto fractions = plan.getExitFractions();
  for (unsigned k = 0; k < fractions.size(); ++k)
    exits.push_back(k < thresholds.size()
                        ? fmt::format("block {} at {} ({:.1f}%)", k, thresholds[k], 100 * fractions[k])
                        : fmt::format("block {} ({:.1f}%)", k, 100 * fractions[k]));
  return fmt::format("{}", fmt::join(exits, ", "));
}

}  // namespace

std::string formatPlan(wire::PlanSummary::Reader plan) {
  std::string out;
  out += fmt::format("epoch {}, strategy {}, {}\n", plan.getEpoch() > 0 ? std::to_string(plan.getEpoch()) : "-",
                     strategyText(plan.getStrategy()), plan.getInstalled() ? "installed" : "not installed");
  out += fmt::format("predicted latency {}, energy {}\n", planner::formatSeconds(plan.getPredictedLatencySeconds()),
                     planner::formatJoules(plan.getPredictedEnergyJoules()));
  const bool graph = plan.getEdges().size() > 0;
  std::vector<std::vector<std::string>> rows = {{"stage", "agent", graph ? "runs" : "nodes", "compute", "sends"}};
  auto stages = plan.getStages();
  for (size_t i = 0; i < stages.size(); ++i) {
    wire::StageSummary::Reader stage = stages[static_cast<unsigned>(i)];
    const bool last = i + 1 == stages.size();
    rows.push_back({std::to_string(stage.getStage()), printable(stage.getAgent(), MAX_NAME),
                    graph ? printable(stage.getLabel(), 64) : nodesText(stage.getFirstNode(), stage.getEndNode()),
                    planner::formatSeconds(stage.getComputeSeconds()),
                    last && stage.getSendBytes() == 0 ? "-" : planner::formatBytes(stage.getSendBytes())});
  }
  out += formatTable(rows);
  if (!graph) return out;
  std::vector<std::vector<std::string>> edges = {{"edge", "carries", "bytes", "transfer"}};
  for (wire::EdgeSummary::Reader edge : plan.getEdges()) {
    std::vector<std::string> tensors;
    for (auto t : edge.getTensors()) tensors.push_back(printable(t, 64));
    const std::string when = edge.getKind() == wire::EdgeKind::UNLESS_EXITED ? " (unless exited)" : "";
    edges.push_back({fmt::format("{}->{}", edge.getFrom(), edge.getTo()), fmt::format("{}{}", fmt::join(tensors, ", "), when),
                     planner::formatBytes(edge.getBytes()), planner::formatSeconds(edge.getTransferSeconds())});
  }
  out += formatTable(edges);
  std::vector<std::string> missing;
  for (auto m : plan.getMissing()) missing.push_back(printable(m, 64));
  if (!missing.empty()) out += fmt::format("left out: {} (their features are zeros)\n", fmt::join(missing, ", "));
  if (plan.getExitFractions().size() > 0) out += fmt::format("exits: {}\n", exitsText(plan));
  if (plan.getExpectedAccuracy() > 0) out += fmt::format("expected accuracy {:.4f}\n", plan.getExpectedAccuracy());
  return out;
}

// One line for a plan: a path as "a nodes 0-3 -> b nodes 4-11", a graph as its stages in order
// with what each runs, and what it leaves out.
std::string planLine(wire::PlanSummary::Reader plan) {
  std::vector<std::string> stages;
  const bool graph = plan.getEdges().size() > 0;
  for (wire::StageSummary::Reader stage : plan.getStages())
    stages.push_back(fmt::format("{} {}", printable(stage.getAgent(), MAX_NAME),
                                 graph ? printable(stage.getLabel(), 64)
                                       : nodesText(stage.getFirstNode(), stage.getEndNode())));
  std::string line = fmt::format("{}", fmt::join(stages, graph ? ", " : " -> "));
  std::vector<std::string> missing;
  for (auto m : plan.getMissing()) missing.push_back(printable(m, 64));
  if (!missing.empty()) line += fmt::format(" [without {}]", fmt::join(missing, ", "));
  if (plan.getExitFractions().size() > 0) line += fmt::format(" [exits: {}]", exitsText(plan));
  return line;
}

std::string formatWatchEvent(wire::WatchEvent::Reader event) {
  switch (event.which()) {
    case wire::WatchEvent::TELEMETRY: {
      auto telemetry = event.getTelemetry();
      wire::Telemetry::Reader report = telemetry.getReport();
      std::string line = fmt::format("telemetry   {}: epoch {}, queue {}", printable(telemetry.getAgent(), MAX_NAME),
                                     report.getEpoch(), report.getQueueDepth());
      for (wire::LinkEstimate::Reader link : report.getLinks())
        line += fmt::format("; link {} {} rtt {} ({}, {} samples)", printable(link.getPeer(), MAX_NAME),
                            planner::formatBandwidth(link.getBytesPerSecond()),
                            planner::formatSeconds(link.getRttSeconds()), linkSourceText(link.getSource()),
                            link.getSamples());
      for (wire::StageTiming::Reader stage : report.getStages())
        line +=
            fmt::format("; stage {}: {} runs, mean {}, max {}", stage.getStage(), stage.getRuns(),
                        planner::formatSeconds(stage.getMeanSeconds()), planner::formatSeconds(stage.getMaxSeconds()));
      return line;
    }
    case wire::WatchEvent::PLAN: {
      wire::PlanSummary::Reader plan = event.getPlan();
      std::string reason = printable(event.getReason());
      return fmt::format(
          "plan        epoch {} {}: {}; latency {}, energy {}{}{}", plan.getEpoch(), strategyText(plan.getStrategy()),
          planLine(plan), planner::formatSeconds(plan.getPredictedLatencySeconds()),
          planner::formatJoules(plan.getPredictedEnergyJoules()), plan.getInstalled() ? "" : " (not installed)",
          reason.empty() ? "" : fmt::format(" ({})", reason));
    }
    case wire::WatchEvent::RESULT: {
      auto result = event.getResult();
      std::string failed = printable(result.getFailed());
      if (!failed.empty())
        return fmt::format("failed      request {} (epoch {}): {}", result.getRequestId(), result.getEpoch(), failed);
      std::vector<std::string> zeroed;
      for (auto name : result.getZeroedInputs()) zeroed.push_back(printable(name, 64));
      return fmt::format("completed   request {} (epoch {}) in {}{}", result.getRequestId(), result.getEpoch(),
                         planner::formatSeconds(result.getLatencySeconds()),
                         zeroed.empty() ? std::string() : fmt::format(" (degraded: without {})", fmt::join(zeroed, ", ")));
    }
    case wire::WatchEvent::AGENT_UP:
      return fmt::format("agent up    {}", printable(event.getAgentUp(), MAX_NAME));
    case wire::WatchEvent::AGENT_DOWN:
      return fmt::format("agent down  {}", printable(event.getAgentDown(), MAX_NAME));
    case wire::WatchEvent::REFUSAL: {
      auto refusal = event.getRefusal();
      return fmt::format("refused     key {} from {}: {}", printable(refusal.getFingerprint(), 64),
                         printable(refusal.getAddress(), 64), printable(refusal.getReason()));
    }
  }
  return fmt::format("event       (unknown kind {})", static_cast<uint16_t>(event.which()));
}

std::string outputSummary(const proto::WireTensor& output, size_t index) {
  const Tensor& tensor = output.tensor;
  std::string text = output.name.empty()
                         ? fmt::format("output {}: {}", index, tensor.type().toString())
                         : fmt::format("output {} '{}': {}", index, output.name, tensor.type().toString());
  if (tensor.dtype() != DType::F32 || tensor.numel() == 0 || (tensor.rank() != 1 && tensor.rank() != 2)) return text;
  const size_t rows = tensor.rank() == 2 ? static_cast<size_t>(tensor.dim(0)) : 1;
  const size_t columns = static_cast<size_t>(tensor.shape().back());
  std::span<const float> values = tensor.values<float>();
  std::vector<std::string> best;
  for (size_t row = 0; row < std::min(rows, MAX_ARGMAX_ROWS); ++row) {
    std::span<const float> scores = values.subspan(row * columns, columns);
    auto top = std::max_element(scores.begin(), scores.end());
    best.push_back(rows == 1 ? fmt::format("{} ({:.5g})", top - scores.begin(), *top)
                             : std::to_string(top - scores.begin()));
  }
  if (rows == 1) return text + ", argmax " + best[0];
  return fmt::format("{}, argmax per row [{}{}]", text, fmt::join(best, ", "), rows > MAX_ARGMAX_ROWS ? ", ..." : "");
}

void addOperatorCommands(CLI::App& app, int& exitCode) {
  auto global = std::make_shared<GlobalOptions>();
  // Numbers are taken as text and checked by the commands, for cleavectl's one-line errors.
  app.add_option("--daemon", global->connection.daemon, "The daemon's operator endpoint, e.g. tcp://10.0.0.2:7702");
  app.add_option("--key", global->connection.key, "The operator's secret key file (NAME.secret)");
  app.add_option("--daemon-key", global->connection.daemonKey,
                 "The daemon's public key file (default: daemon.pub beside --key)");
  app.add_option("--state", global->connection.state,
                 "State folder of a fleet started by `cleavectl up` (endpoint and keys from there)");
  app.add_option("--timeout", global->timeout, "Seconds to wait for each reply (default 10)");

  // Every operator command also takes the global options after its name.
  auto command = [&](CLI::App& parent, const std::string& name, const std::string& description) {
    CLI::App* cmd = parent.add_subcommand(name, description);
    cmd->fallthrough();
    return cmd;
  };

  command(app, "status", "The fleet's state: plan epoch, agents online, request counts")->callback([global, &exitCode] {
    exitCode = status(*global);
  });
  command(app, "agents", "Every agent of the topology: online, last seen, epoch, queue, key, endpoint, speed")
      ->callback([global, &exitCode] { exitCode = agents(*global); });

  CLI::App* plan = planCommand(app);
  plan->fallthrough();
  command(*plan, "show", "The daemon's current plan")->callback([global, &exitCode] { exitCode = planShow(*global); });
  auto applyOptions = std::make_shared<PlanApplyOptions>();
  CLI::App* apply = command(*plan, "apply", "Install a plan by hand (checked by the daemon)");
  apply->add_option("file", applyOptions->file,
                    "A plan file: TOML (strategy, route and cuts, or students and fusion) or the JSON that "
                    "`cleavectl plan CONFIG --json` writes");
  apply->add_option("--route", applyOptions->route, "A split plan's devices, source first: a,b,c");
  apply->add_option("--cuts", applyOptions->cuts,
                    "Node positions between consecutive devices: 2,4 (one fewer than the route)");
  apply->add_flag("--dry-run", applyOptions->dryRun, "Check and cost the plan without installing it");
  apply->callback([global, applyOptions, &exitCode] { exitCode = planApply(*global, *applyOptions); });

  auto force = std::make_shared<bool>(false);
  CLI::App* replanCmd = command(app, "replan", "Run the planner now and install its best plan if it is better");
  replanCmd->add_flag("--force", *force,
                      "Install the planner's best plan even if it is not better by the hysteresis margin");
  replanCmd->callback([global, force, &exitCode] { exitCode = replan(*global, *force); });

  auto inferOptions = std::make_shared<InferOptions>();
  CLI::App* inferCmd = command(app, "infer", "Run one input through the fleet and print the result");
  inferCmd->add_option("--input", inferOptions->input, "Input tensor (.npy) for the model's single input")->required();
  inferCmd->add_option("--output", inferOptions->output, "Write the (first) output here (.npy)");
  inferCmd->add_option("--repeat", inferOptions->repeat,
                       "Send N requests at once (all outstanding) and print p50/p95 latency");
  inferCmd->callback([global, inferOptions, &exitCode] { exitCode = infer(*global, *inferOptions); });

  auto watchOptions = std::make_shared<WatchOptions>();
  CLI::App* watchCmd =
      command(app, "watch", "Print plan changes, agents coming and going, and telemetry as they happen");
  watchCmd->add_flag("--plans", watchOptions->plans, "Plan changes and finished requests");
  watchCmd->add_flag("--agents", watchOptions->agents, "Agents coming and going, refused connections");
  watchCmd->add_flag("--telemetry", watchOptions->telemetry, "Every agent's telemetry reports");
  watchCmd->callback([global, watchOptions, &exitCode] { exitCode = watch(*global, *watchOptions); });

  CLI::App* link = command(app, "link", "Pin the daemon's estimate of a link, or shape a link (tests and demos)");
  link->require_subcommand(1);
  auto setOptions = std::make_shared<LinkSetOptions>();
  CLI::App* set = command(*link, "set", "Plan with these figures for FROM -> TO instead of measurements (or --clear)");
  set->add_option("from", setOptions->from, "Sending agent")->required();
  set->add_option("to", setOptions->to, "Receiving agent")->required();
  set->add_option("--bandwidth", setOptions->bandwidth, "Bandwidth, e.g. 200kbps or 2MB/s");
  set->add_option("--rtt", setOptions->rtt, "Round-trip time, e.g. 10ms (default: keep the current estimate's)");
  set->add_flag("--clear", setOptions->clear, "Release the pin");
  set->callback([global, setOptions, &exitCode] { exitCode = linkCommand(*global, *setOptions, false); });
  auto shapeOptions = std::make_shared<LinkSetOptions>();
  CLI::App* shape = command(*link, "shape", "Shape FROM -> TO in FROM's agent: a rate, a trace, or --clear");
  shape->add_option("from", shapeOptions->from, "Sending agent")->required();
  shape->add_option("to", shapeOptions->to, "Receiving agent")->required();
  shape->add_option("--bandwidth", shapeOptions->bandwidth, "Bandwidth, e.g. 200kbps or 2MB/s");
  shape->add_option("--rtt", shapeOptions->rtt, "Added round-trip time, e.g. 10ms");
  shape->add_option("--trace", shapeOptions->trace, "A trace file (time_s,bandwidth_bps,rtt_ms), replayed from now");
  shape->add_flag("--clear", shapeOptions->clear, "Remove the shaping");
  shape->callback([global, shapeOptions, &exitCode] { exitCode = linkCommand(*global, *shapeOptions, true); });
}

}  // namespace cleave::cli

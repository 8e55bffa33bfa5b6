// cleave-demo: the whole system on one machine. Starts a fleet with `cleavectl up --pace` (keys,
// daemon, one agent per device, every link shaped in process as the topology declares it, traces
// included), streams the Fashion-MNIST test set through it under the split strategy, shows the
// plan, the links and the latency live, and writes an HTML report at the end. Ctrl-C ends the
// stream early; the report is still written and the fleet is always taken down.
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "config/bandwidth_trace.h"
#include "config/fleet_config.h"
#include "planner/planner.h"
#include "planner/units.h"
#include "proto/tensor_frame.h"
#include "tools/cleavectl/operator_client.h"
#include "tools/demo/demo_report.h"
#include "tools/demo/fmnist_reader.h"
#include "tools/demo/live_view.h"

namespace fs = std::filesystem;
using namespace cleave;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string config = std::string(CLEAVE_SOURCE_DIR) + "/configs/demo-fmnist.toml";
  std::string model = std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-teacher";
  std::string state;
  std::string report = "cleave-demo-report.html";
  size_t images = 10000;
  double seconds = 90;  // stop sending after this long; 0: until the images are done
  int outstanding = 1;
  bool plain = false;
  // For bench/run_adaptive_bench.sh:
  std::string apply;    // "camera,pi1,pi2,cloud:0,0,12": install this split at the start
  bool oracle = false;  // pin every traced link to its true bandwidth as the trace moves
  std::string stepLink;  // "camera-pi1": shape this link to stepTo at stepAt seconds
  std::string stepTo;
  double stepAt = 0;
  std::string summary;  // write key=value figures here at the end
  std::string csv;  // write requests.csv and links.csv (every request, every link sample) here at the end
};

// Runs a command to completion; its exit status (or -1).
int run(const std::vector<std::string>& argv) {
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) < 0) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string cleavectlPath() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return (self.parent_path().parent_path() / "cleavectl").string();
}

std::string placementText(wire::PlanSummary::Reader plan) {
  std::vector<std::string> parts;
  for (auto s : plan.getStages())
    if (s.getEndNode() > s.getFirstNode())
      parts.push_back(fmt::format("{} {}-{}", s.getAgent().cStr(), s.getFirstNode(), s.getEndNode() - 1));
  return fmt::format("{}", fmt::join(parts, " | "));
}

std::optional<double> percentile(std::vector<double> values, double p) {
  if (values.empty()) return std::nullopt;
  std::sort(values.begin(), values.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

// The Neurosurgeon curve of one link: the best plan's predicted latency as its bandwidth sweeps.
demo::CurveSeries curveFor(const planner::PlanningProblem& base, size_t link, const std::vector<std::string>& names) {
  demo::CurveSeries series;
  const planner::Link& l = base.fleet.links[link];
  series.link = names[l.a] + "-" + names[l.b];
  for (int i = 0; i <= 60; ++i) {
    const double bytes = 1e3 * std::pow(10.0, i / 15.0);  // 8 kbps .. 80 Mbps
    planner::PlanningProblem problem = base;
    problem.fleet.links[link].bytesPerSecond = bytes;
    Result<planner::PlanSet> set = planner::makePlan(problem, planner::Strategy::Split, {planner::Strategy::Split});
    if (!set) continue;
    const planner::Plan& plan = set->plans.front();
    std::vector<std::string> parts;
    const std::vector<size_t> route = plan.route();
    const std::vector<int64_t> cuts = plan.cuts();
    for (size_t s = 0; s < route.size(); ++s) {
      int64_t begin = s == 0 ? 0 : cuts[s - 1], end = s < cuts.size() ? cuts[s] : problem.model.positions();
      if (end > begin) parts.push_back(fmt::format("{} {}-{}", names[route[s]], begin, end - 1));
    }
    series.points.push_back({bytes, plan.latencySeconds, fmt::format("{}", fmt::join(parts, " | "))});
  }
  return series;
}

class Demo {
 public:
  Demo(Options options, config::FleetConfig fleet, demo::LabelledImages data)
      : options_(std::move(options)), fleet_(std::move(fleet)), data_(std::move(data)) {}

  int run(cli::OperatorClient& client, cli::SignalPipe& signals, double traceStartUnix);

 private:
  void onReply(cli::OperatorReplyMessage& reply);
  void sample();
  void draw();
  void pinTruth(cli::OperatorClient& client);
  void stepLink(cli::OperatorClient& client);
  double rttOf(const std::string& a, const std::string& b) const;
  void writeSummary() const;
  void writeCsv() const;
  Status sendNext(cli::OperatorClient& client);
  double now() const { return std::chrono::duration<double>(Clock::now() - started_).count(); }

  Options options_;
  config::FleetConfig fleet_;
  demo::LabelledImages data_;
  demo::DemoRecord record_;
  demo::LiveState live_;
  Clock::time_point started_ = Clock::now();
  double traceOffset_ = 0;  // trace time at started_
  std::map<uint64_t, std::pair<size_t, double>> inFlight_;  // request id -> image, start
  std::map<std::pair<std::string, std::string>, double> measured_;
  std::map<std::string, std::pair<double, uint64_t>> load_;  // device -> seconds, runs
  std::vector<double> recent_;
  uint64_t watchId_ = 0;
  size_t next_ = 0;
  std::map<std::pair<std::string, std::string>, double> truth_, pinned_;  // per direction, from sample()
  std::optional<double> steppedAt_;
  uint64_t epochAtStep_ = 0;
  std::optional<double> planAfterStep_, firstRunAfterStep_;  // seconds after the step
};

Status Demo::sendNext(cli::OperatorClient& client) {
  const size_t index = next_++ % data_.images.size();
  proto::WireTensor input{"image", data_.images[index], std::nullopt, 1, 0};
  Result<uint64_t> id = client.send([&](wire::OperatorRequest::Builder r, std::vector<zmq::message_t>& frames) -> Status {
    wire::Infer::Builder request = r.initInfer();
    request.setTimeoutSeconds(60);
    Result<zmq::message_t> frame = proto::encodeTensor(input, request.initTensors(1)[0]);
    if (!frame) return frame.error();
    frames.push_back(std::move(*frame));
    return {};
  });
  if (!id) return id.error();
  inFlight_[*id] = {index, now()};
  return {};
}

void Demo::onReply(cli::OperatorReplyMessage& message) {
  wire::OperatorReply::Reader reply = message.reply;
  if (reply.getId() == watchId_ && reply.isEvent()) {
    auto event = reply.getEvent();
    if (event.isPlan()) {
      auto plan = event.getPlan();
      demo::Replan r;
      r.seconds = now();
      r.epoch = plan.getEpoch();
      r.reason = event.getReason();
      if (event.getPreviousPredictedSeconds() > 0) r.oldPredictedSeconds = event.getPreviousPredictedSeconds();
      r.newPredictedSeconds = plan.getPredictedLatencySeconds();
      r.placement = placementText(plan);
      record_.replans.push_back(r);
      if (steppedAt_ && !planAfterStep_) planAfterStep_ = r.seconds - *steppedAt_;
      live_.epoch = r.epoch;
      live_.predictedSeconds = r.newPredictedSeconds;
      live_.placement.clear();
      for (auto s : plan.getStages())
        live_.placement.push_back(fmt::format("{:<8} {}", s.getAgent().cStr(),
                                              s.getEndNode() > s.getFirstNode()
                                                  ? fmt::format("nodes {}-{}", s.getFirstNode(), s.getEndNode() - 1)
                                                  : std::string("relays")));
      live_.recentReplans.push_back(fmt::format("{:6.1f} s  epoch {}: {}", r.seconds, r.epoch, r.reason));
      if (live_.recentReplans.size() > 5) live_.recentReplans.erase(live_.recentReplans.begin());
    } else if (event.isTelemetry()) {
      const std::string agent = event.getTelemetry().getAgent();
      auto report = event.getTelemetry().getReport();
      for (auto link : report.getLinks()) measured_[{agent, link.getPeer()}] = link.getBytesPerSecond();
      for (auto stage : report.getStages()) {
        load_[agent].first += stage.getMeanSeconds() * stage.getRuns();
        load_[agent].second += stage.getRuns();
      }
    }
    return;
  }
  auto it = inFlight_.find(reply.getId());
  if (it == inFlight_.end()) return;
  const auto [index, start] = it->second;
  inFlight_.erase(it);
  demo::RequestSample sample;
  sample.startSeconds = start;
  if (reply.isInferResult() && !message.frames.empty()) {
    auto result = reply.getInferResult();
    sample.latencySeconds = result.getLatencySeconds();
    sample.epoch = result.getEpoch();
    if (steppedAt_ && !firstRunAfterStep_ && sample.epoch > epochAtStep_) firstRunAfterStep_ = start - *steppedAt_;
    std::span<const std::byte> bytes(static_cast<const std::byte*>(message.frames[0].data()), message.frames[0].size());
    Result<proto::WireTensor> logits = proto::decodeTensor(result.getTensors()[0], bytes, proto::TensorLimits{});
    if (logits) {
      auto values = logits->tensor.values<float>();
      sample.correct = std::max_element(values.begin(), values.end()) - values.begin() == data_.labels[index];
    }
    recent_.push_back(sample.latencySeconds);
    if (recent_.size() > 200) recent_.erase(recent_.begin());
  } else {
    sample.failed = true;
    ++live_.failed;
  }
  live_.correct += sample.correct ? 1 : 0;
  ++live_.done;
  record_.requests.push_back(sample);
}

void Demo::sample() {
  const double t = now();
  live_.links.clear();
  const planner::Fleet& fleet = fleet_.problem.fleet;
  for (size_t i = 0; i < fleet.links.size(); ++i) {
    const planner::Link& link = fleet.links[i];
    const std::string& trace = i < fleet_.topology.linkTraces.size() ? fleet_.topology.linkTraces[i] : std::string();
    for (bool forward : {true, false}) {
      const std::string& from = fleet.devices[forward ? link.a : link.b].name;
      const std::string& to = fleet.devices[forward ? link.b : link.a].name;
      double truth = forward ? link.bytesPerSecond : link.reverseBytesPerSecond;
      if (!trace.empty()) {
        static std::map<std::string, config::BandwidthTrace> traces;
        if (!traces.contains(trace))
          if (Result<config::BandwidthTrace> loaded = config::BandwidthTrace::load(trace)) traces.emplace(trace, *loaded);
        if (auto found = traces.find(trace); found != traces.end())
          truth = found->second.bytesPerSecondAt(std::max(0.0, t + traceOffset_));
      }
      std::optional<double> measured;
      if (auto m = measured_.find({from, to}); m != measured_.end()) measured = m->second;
      live_.links.push_back({from, to, truth, measured});
      truth_[{from, to}] = truth;
      auto series = std::find_if(record_.links.begin(), record_.links.end(),
                                 [&](const demo::LinkSeries& s) { return s.from == from && s.to == to; });
      if (series == record_.links.end()) {
        record_.links.push_back({from, to, {}});
        series = record_.links.end() - 1;
      }
      series->samples.push_back({t, truth, measured});
    }
  }
  live_.p50 = percentile(recent_, 50);
  live_.p95 = percentile(recent_, 95);
  live_.elapsedSeconds = t;
}

void Demo::draw() {
  if (options_.plain) return;
  fmt::print("\033[H\033[2J{}", demo::renderLiveView(live_, true));
  std::fflush(stdout);
}

// The oracle knows the trace: whenever a traced link's true bandwidth changes, it pins it.
void Demo::pinTruth(cli::OperatorClient& client) {
  for (const auto& [link, truth] : truth_) {
    auto it = pinned_.find(link);
    if (it != pinned_.end() && it->second == truth) continue;
    pinned_[link] = truth;
    (void)client.send([&](wire::OperatorRequest::Builder r, std::vector<zmq::message_t>&) -> Status {
      auto set = r.initLinkSet();
      set.setFrom(link.first);
      set.setTo(link.second);
      auto pin = set.initPin();
      pin.setBytesPerSecond(std::max(truth, 1.0));  // a drop-out pins the slowest rate allowed
      pin.setRttSeconds(-1);
      return {};
    });
  }
}

double Demo::rttOf(const std::string& a, const std::string& b) const {
  const planner::Fleet& fleet = fleet_.problem.fleet;
  std::optional<size_t> i = fleet.deviceIndex(a), j = fleet.deviceIndex(b);
  const planner::Link* link = i && j ? fleet.linkBetween(*i, *j) : nullptr;
  return link ? link->rttSeconds : 0.0;
}

void Demo::stepLink(cli::OperatorClient& client) {
  const size_t dash = options_.stepLink.find('-');
  Result<double> rate = planner::parseBandwidth(options_.stepTo);
  if (dash == std::string::npos || !rate) return;
  steppedAt_ = now();
  epochAtStep_ = live_.epoch;
  for (bool forward : {true, false}) {
    const std::string from = options_.stepLink.substr(forward ? 0 : dash + 1, forward ? dash : std::string::npos);
    const std::string to = options_.stepLink.substr(forward ? dash + 1 : 0, forward ? std::string::npos : dash);
    (void)client.send([&](wire::OperatorRequest::Builder r, std::vector<zmq::message_t>&) -> Status {
      auto set = r.initLinkSet();
      set.setFrom(from);
      set.setTo(to);
      auto shape = set.initShape();
      shape.setPeer(to);
      shape.setBytesPerSecond(*rate);
      shape.setRttSeconds(rttOf(from, to));  // only the bandwidth steps
      return {};
    });
  }
}

void Demo::writeSummary() const {
  std::vector<double> latencies;
  double sum = 0;
  for (const demo::RequestSample& r : record_.requests)
    if (!r.failed) {
      latencies.push_back(r.latencySeconds);
      sum += r.latencySeconds;
    }
  std::ofstream out(options_.summary);
  out << fmt::format("requests={}\nfailed={}\n", record_.requests.size(), live_.failed);
  if (!latencies.empty())
    out << fmt::format("mean_ms={:.2f}\np50_ms={:.2f}\np95_ms={:.2f}\n", 1e3 * sum / static_cast<double>(latencies.size()),
                       1e3 * *percentile(latencies, 50), 1e3 * *percentile(latencies, 95));
  out << fmt::format("replans={}\n", record_.replans.empty() ? 0 : record_.replans.size() - 1);
  if (!record_.replans.empty()) out << fmt::format("predicted_ms={:.2f}\n", 1e3 * record_.replans.back().newPredictedSeconds);
  if (planAfterStep_) out << fmt::format("plan_after_step_ms={:.1f}\n", 1e3 * *planAfterStep_);
  if (firstRunAfterStep_) out << fmt::format("first_request_after_step_ms={:.1f}\n", 1e3 * *firstRunAfterStep_);
}

void Demo::writeCsv() const {
  fs::create_directories(options_.csv);
  std::ofstream requests(fs::path(options_.csv) / "requests.csv");
  requests << "start_s,trace_s,latency_ms,epoch,failed\n";
  for (const demo::RequestSample& r : record_.requests)
    requests << fmt::format("{:.4f},{:.4f},{:.3f},{},{}\n", r.startSeconds, r.startSeconds + traceOffset_,
                            1e3 * r.latencySeconds, r.epoch, r.failed ? 1 : 0);
  std::ofstream links(fs::path(options_.csv) / "links.csv");
  links << "seconds,trace_s,from,to,true_bps,measured_bps\n";
  for (const demo::LinkSeries& series : record_.links)
    for (const demo::LinkSample& s : series.samples)
      links << fmt::format("{:.4f},{:.4f},{},{},{:.0f},{}\n", s.seconds, s.seconds + traceOffset_, series.from, series.to,
                           8 * s.trueBytesPerSecond,
                           s.measuredBytesPerSecond ? fmt::format("{:.0f}", 8 * *s.measuredBytesPerSecond) : "");
}

int Demo::run(cli::OperatorClient& client, cli::SignalPipe& signals, double traceStartUnix) {
  traceOffset_ =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count() - traceStartUnix;
  live_.title = fmt::format("cleave demo: {} on {} (split, adaptive)", fleet_.bundle.name, fleet_.topology.name);
  live_.total = options_.images;
  Result<uint64_t> watch = client.send([](wire::OperatorRequest::Builder r, std::vector<zmq::message_t>&) -> Status {
    auto w = r.initWatch();
    w.setPlans(true);
    w.setTelemetry(true);
    return {};
  });
  if (!watch) return fmt::print(stderr, "cleave-demo: {}\n", watch.error().message), 1;
  watchId_ = *watch;
  if (!options_.apply.empty()) {
    const size_t colon = options_.apply.find(':');
    std::string route = options_.apply.substr(0, colon), cuts = colon == std::string::npos ? "" : options_.apply.substr(colon + 1);
    std::string quoted;
    for (size_t start = 0; start <= route.size();) {
      size_t comma = std::min(route.find(',', start), route.size());
      quoted += fmt::format("{}\"{}\"", quoted.empty() ? "" : ", ", route.substr(start, comma - start));
      start = comma + 1;
    }
    const std::string toml = fmt::format("strategy = \"split\"\nroute = [{}]\ncuts = [{}]\n", quoted, cuts);
    Result<cli::OperatorReplyMessage> applied =
        client.request([&](wire::OperatorRequest::Builder r, std::vector<zmq::message_t>&) -> Status {
          r.initPlanApply().setToml(toml);
          return {};
        }, "plan apply");
    if (!applied) return fmt::print(stderr, "cleave-demo: --apply {}: {}\n", options_.apply, applied.error().message), 1;
  }
  // The plan in force, asked for after --apply: a request waits for its own reply and drops the
  // events that come first, so the applied plan's event would not be seen.
  Result<uint64_t> shown = client.send([](wire::OperatorRequest::Builder r, std::vector<zmq::message_t>&) -> Status {
    r.setPlanShow();
    return {};
  });
  if (!shown) return fmt::print(stderr, "cleave-demo: plan show: {}\n", shown.error().message), 1;
  Clock::time_point nextDraw = Clock::now();
  bool interrupted = false;
  while (live_.done < options_.images || !inFlight_.empty()) {
    if (signals.received()) {
      interrupted = true;
      break;
    }
    if (options_.seconds > 0 && now() > options_.seconds && inFlight_.empty()) break;
    if (next_ >= options_.images && inFlight_.empty()) break;
    while (static_cast<int>(inFlight_.size()) < options_.outstanding && next_ < options_.images &&
           !(options_.seconds > 0 && now() > options_.seconds))
      if (Status sent = sendNext(client); !sent) return fmt::print(stderr, "cleave-demo: {}\n", sent.error().message), 1;
    Result<std::optional<cli::OperatorReplyMessage>> reply = client.poll(0.05, signals.fd());
    if (!reply) return fmt::print(stderr, "cleave-demo: {}\n", reply.error().message), 1;
    if (*reply) {
      if ((*reply)->reply.isPlan() && record_.replans.empty()) {  // the plan before the first event
        demo::Replan r;
        r.epoch = (*reply)->reply.getPlan().getEpoch();
        r.reason = "the plan in force when the demo started";
        r.newPredictedSeconds = (*reply)->reply.getPlan().getPredictedLatencySeconds();
        r.placement = placementText((*reply)->reply.getPlan());
        record_.replans.push_back(r);
        live_.epoch = r.epoch;
        live_.predictedSeconds = r.newPredictedSeconds;
      } else {
        onReply(**reply);
      }
    }
    if (Clock::now() >= nextDraw) {
      sample();
      if (options_.oracle) pinTruth(client);
      if (!options_.stepLink.empty() && !steppedAt_ && now() >= options_.stepAt) stepLink(client);
      draw();
      nextDraw = Clock::now() + std::chrono::milliseconds(options_.oracle || !options_.stepLink.empty() ? 20 : 250);
    }
  }
  sample();
  draw();

  // The report.
  record_.title = live_.title;
  record_.topology = fleet_.topology.path;
  record_.model = fleet_.bundle.name;
  record_.trace = "links as declared in the topology (traces in configs/traces/)";
  record_.durationSeconds = now();
  for (const auto& [device, figures] : load_) record_.load.push_back({device, figures.first, figures.second});
  std::vector<std::string> names;
  for (const planner::DeviceProfile& d : fleet_.problem.fleet.devices) names.push_back(d.name);
  for (size_t i = 0; i < fleet_.problem.fleet.links.size(); ++i)
    if (i < fleet_.topology.linkTraces.size() && !fleet_.topology.linkTraces[i].empty())
      record_.curves.push_back(curveFor(fleet_.problem, i, names));
  record_.facts.push_back({"requests outstanding", std::to_string(options_.outstanding)});
  if (interrupted) record_.facts.push_back({"ended", "interrupted (Ctrl-C)"});
  std::ofstream(options_.report) << demo::renderDemoReport(record_);
  if (!options_.summary.empty()) writeSummary();
  if (!options_.csv.empty()) writeCsv();
  fmt::print("\n{} requests, {} failed, {} re-plans; report: {}\n", live_.done, live_.failed,
             record_.replans.empty() ? 0 : record_.replans.size() - 1, fs::absolute(options_.report).string());
  return live_.failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{"cleave-demo: a fleet of four local agents streaming Fashion-MNIST under adaptive split planning"};
  app.add_option("--config", options.config, "Topology (default: configs/demo-fmnist.toml)");
  app.add_option("--model", options.model, "Bundle to run (default: models/fmnist-teacher)");
  app.add_option("--images", options.images, "How many test images to stream (default: all 10000)");
  app.add_option("--seconds", options.seconds, "Stop sending after this long (default 90; 0: only when the images are done)");
  app.add_option("--outstanding", options.outstanding, "Requests in flight at once (default 1: latency is the plan's)")
      ->check(CLI::Range(1, 64));
  app.add_option("--state", options.state, "State folder for the fleet (default: a temporary one)");
  app.add_option("--report", options.report, "Where to write the HTML report");
  app.add_flag("--plain", options.plain, "No live screen (for logs and tests)");
  app.add_option("--apply", options.apply, "Install ROUTE:CUTS at the start (e.g. camera,pi1,pi2,cloud:0,0,12)");
  app.add_flag("--oracle", options.oracle, "Pin each traced link to its true bandwidth as the trace moves");
  app.add_option("--step-link", options.stepLink, "Shape this link (A-B, both ways) to --step-to at --step-at");
  app.add_option("--step-to", options.stepTo, "Bandwidth of the step, e.g. 500kbps");
  app.add_option("--step-at", options.stepAt, "Seconds into the run of the step");
  app.add_option("--summary", options.summary, "Write key=value figures (latency, re-plans, reaction) here");
  app.add_option("--csv", options.csv, "Write requests.csv and links.csv (each request and link sample) to this folder");
  CLI11_PARSE(app, argc, argv);
  if (!fs::exists(options.model)) options.model = std::string(CLEAVE_SOURCE_DIR) + "/models/fmnist-small";

  Result<demo::LabelledImages> data = demo::readFashionMnist(demo::FMNIST_DIR, "t10k");
  if (!data) return fmt::print(stderr, "cleave-demo: {}\n", data.error().message), 1;
  options.images = std::min(options.images, data->images.size());
  Result<config::FleetConfig> fleet = config::loadFleetConfig(options.config, options.model);
  if (!fleet) return fmt::print(stderr, "cleave-demo: {}\n", fleet.error().message), 1;

  bool temporary = options.state.empty();
  if (temporary) {
    std::string pattern = (fs::temp_directory_path() / "cleave-demo-XXXXXX").string();
    if (!mkdtemp(pattern.data())) return fmt::print(stderr, "cleave-demo: cannot make a temporary folder\n"), 1;
    options.state = pattern;
  }
  const std::string cleavectl = cleavectlPath();
  fmt::print("starting the fleet: cleavectl up {} --pace --model {}\n", options.config, options.model);
  std::fflush(stdout);
  if (run({cleavectl, "up", options.config, "--state", options.state, "--pace", "--model", options.model}) != 0)
    return fmt::print(stderr, "cleave-demo: the fleet did not come up (logs in {}/logs)\n", options.state), 1;
  int exitCode = 1;
  {
    Result<std::unique_ptr<cli::SignalPipe>> signals = cli::SignalPipe::install();
    cli::ConnectionOptions connection;
    connection.state = options.state;
    Result<cli::OperatorTarget> target = cli::resolveTarget(connection);
    Result<std::unique_ptr<cli::OperatorClient>> client =
        target ? cli::OperatorClient::connect(*target, 10.0, "cleave-demo") : Result<std::unique_ptr<cli::OperatorClient>>(target.error());
    double traceStart = 0;
    std::ifstream(options.state + "/trace-start") >> traceStart;
    if (!signals || !client) {
      fmt::print(stderr, "cleave-demo: {}\n", !signals ? signals.error().message : client.error().message);
    } else {
      Demo demo(options, std::move(*fleet), std::move(*data));
      exitCode = demo.run(**client, **signals, traceStart);
    }
  }
  fmt::print("stopping the fleet\n");
  std::fflush(stdout);
  run({cleavectl, "down", "--state", options.state});
  if (temporary && exitCode == 0) fs::remove_all(options.state);
  return exitCode;
}

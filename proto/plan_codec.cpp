#include "proto/plan_codec.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include <set>

#include "proto/wire_names.h"
#include "proto/message_codec.h"
#include "proto/tensor_frame.h"

namespace cleave::proto {
namespace {



Result<RouteSpec> decodeRoute(wire::Route::Reader reader, std::string_view what) {
  RouteSpec route;
  Result<std::string> agent = readText(reader.getAgent(), MAX_NAME_BYTES, fmt::format("{} agent", what));
  if (!agent) return agent.error();
  if (agent->empty()) return Error{fmt::format("{}: no agent named", what)};
  route.agent = std::move(*agent);
  route.stage = reader.getStage();
  auto tensors = reader.getTensors();
  if (tensors.size() > MAX_ROUTE_TENSORS)
    return Error{fmt::format("{}: {} tensors exceed the limit of {}", what, tensors.size(), MAX_ROUTE_TENSORS)};
  for (auto name : tensors) {
    Result<std::string> text = readText(name, MAX_TENSOR_NAME, fmt::format("{} tensor name", what));
    if (!text) return text.error();
    route.tensors.push_back(std::move(*text));
  }
  route.kind = reader.getKind();
  if (route.kind > wire::EdgeKind::CHANNEL_PREFIX)
    return Error{fmt::format("{}: unknown edge kind {}", what, static_cast<uint16_t>(route.kind))};
  return route;
}

bool hasValue(const std::vector<ValueInfo>& values, const std::string& name) {
  for (const ValueInfo& value : values)
    if (value.name == name) return true;
  return false;
}

// Routes of a stage (`next` or `upstream`), each tensor one of `values` (its outputs or inputs).
Result<std::vector<RouteSpec>> decodeRoutes(capnp::List<wire::Route>::Reader list, const std::vector<ValueInfo>& values,
                                            const std::string& what, std::string_view role) {
  if (list.size() > MAX_STAGE_ROUTES)
    return Error{fmt::format("{}: {} {} routes exceed the limit of {}", what, list.size(), role, MAX_STAGE_ROUTES)};
  std::vector<RouteSpec> routes;
  for (auto route : list) {
    Result<RouteSpec> decoded = decodeRoute(route, fmt::format("{} {} route", what, role));
    if (!decoded) return decoded.error();
    for (const std::string& name : decoded->tensors)
      if (!hasValue(values, name))
        return Error{fmt::format("{}: {} route names '{}', which is not {}", what, role, name,
                                 role == "next" ? "an output" : "an input")};
    routes.push_back(std::move(*decoded));
  }
  return routes;
}

void encodeRoute(const RouteSpec& route, wire::Route::Builder builder) {
  builder.setAgent(route.agent);
  builder.setStage(route.stage);
  auto tensors = builder.initTensors(static_cast<unsigned>(route.tensors.size()));
  for (size_t i = 0; i < route.tensors.size(); ++i) tensors.set(static_cast<unsigned>(i), route.tensors[i]);
  builder.setKind(route.kind);
}

void encodeRoutes(const std::vector<RouteSpec>& routes, capnp::List<wire::Route>::Builder builder) {
  for (size_t i = 0; i < routes.size(); ++i) encodeRoute(routes[i], builder[static_cast<unsigned>(i)]);
}

Result<std::vector<ValueInfo>> decodeSpecs(capnp::List<wire::TensorSpec>::Reader list, std::string_view what) {
  if (list.size() > MAX_STAGE_TENSORS)
    return Error{fmt::format("{}: {} tensors exceed the limit of {}", what, list.size(), MAX_STAGE_TENSORS)};
  std::vector<ValueInfo> out;
  std::set<std::string> names;
  for (auto spec : list) {
    Result<ValueInfo> value = decodeTensorSpec(spec);
    if (!value) return Error{fmt::format("{}: {}", what, value.error().message)};
    if (!names.insert(value->name).second) return Error{fmt::format("{}: tensor '{}' twice", what, value->name)};
    out.push_back(std::move(*value));
  }
  return out;
}

Result<StageSpec> decodeStage(wire::StageAssignment::Reader reader) {
  StageSpec stage;
  stage.stage = reader.getStage();
  const std::string what = fmt::format("stage {}", stage.stage);
  Result<ContentHash> hash = readKey32(reader.getGraphHash(), what + " graph hash");
  if (!hash) return hash.error();
  stage.graphHash = *hash;
  stage.graphBytes = reader.getGraphBytes();
  if (stage.graphBytes == 0) return Error{what + ": graph of 0 bytes"};
  Result<std::vector<ValueInfo>> inputs = decodeSpecs(reader.getInputs(), what + " inputs");
  if (!inputs) return inputs.error();
  Result<std::vector<ValueInfo>> outputs = decodeSpecs(reader.getOutputs(), what + " outputs");
  if (!outputs) return outputs.error();
  stage.inputs = std::move(*inputs);
  stage.outputs = std::move(*outputs);
  Result<std::vector<RouteSpec>> next = decodeRoutes(reader.getNext(), stage.outputs, what, "next");
  if (!next) return next.error();
  stage.next = std::move(*next);
  Result<std::vector<RouteSpec>> upstream = decodeRoutes(reader.getUpstream(), stage.inputs, what, "upstream");
  if (!upstream) return upstream.error();
  stage.upstream = std::move(*upstream);
  auto zeroed = reader.getZeroedInputs();
  if (zeroed.size() > MAX_STAGE_TENSORS)
    return Error{fmt::format("{}: {} zeroed inputs exceed the limit of {}", what, zeroed.size(), MAX_STAGE_TENSORS)};
  for (auto name : zeroed) {
    Result<std::string> text = readText(name, MAX_TENSOR_NAME, what + " zeroed input");
    if (!text) return text.error();
    if (!hasValue(stage.inputs, *text))
      return Error{fmt::format("{}: zeroed input '{}' is not an input", what, *text)};
    for (const std::string& earlier : stage.zeroedInputs)
      if (earlier == *text) return Error{fmt::format("{}: zeroed input '{}' twice", what, *text)};
    stage.zeroedInputs.push_back(std::move(*text));
  }
  if (stage.zeroedInputs.size() == stage.inputs.size() && !stage.inputs.empty())
    return Error{fmt::format("{}: every input is zeroed", what)};
  // With upstream routes, each input must come from one of them or be zeroed, not both:
  // otherwise every request would wait for it until the gathering time runs out.
  if (!stage.upstream.empty()) {
    for (const ValueInfo& input : stage.inputs) {
      bool sent = false;
      for (const RouteSpec& route : stage.upstream)
        for (const std::string& name : route.tensors) sent = sent || name == input.name;
      const bool all = std::any_of(stage.upstream.begin(), stage.upstream.end(),
                                   [](const RouteSpec& r) { return r.tensors.empty(); });
      const bool isZeroed =
          std::find(stage.zeroedInputs.begin(), stage.zeroedInputs.end(), input.name) != stage.zeroedInputs.end();
      if (isZeroed && sent) return Error{fmt::format("{}: input '{}' is both zeroed and sent", what, input.name)};
      if (!isZeroed && !sent && !all)
        return Error{fmt::format("{}: input '{}' is neither sent by an upstream route nor zeroed", what, input.name)};
    }
  }
  Result<std::string> label = readText(reader.getLabel(), MAX_LABEL_BYTES, what + " label");
  if (!label) return label.error();
  stage.label = std::move(*label);
  stage.channelsSent = reader.getChannelsSent();
  stage.exitThreshold = reader.getExitThreshold();
  Result<std::string> exitOutput = readText(reader.getExitOutput(), MAX_TENSOR_NAME, what + " exitOutput");
  if (!exitOutput) return exitOutput.error();
  stage.exitOutput = std::move(*exitOutput);
  if (!stage.exitOutput.empty()) {
    auto exit = std::find_if(stage.outputs.begin(), stage.outputs.end(),
                             [&](const ValueInfo& v) { return v.name == stage.exitOutput; });
    if (exit == stage.outputs.end())
      return Error{fmt::format("{}: its exit '{}' is none of its outputs", what, stage.exitOutput)};
    if (exit->type.dtype != DType::F32) return Error{fmt::format("{}: its exit '{}' is not float32", what, stage.exitOutput)};
    if (!std::isfinite(stage.exitThreshold) || stage.exitThreshold < 0)
      return Error{fmt::format("{}: exit threshold {} is not a number from 0 up", what, stage.exitThreshold)};
  }
  for (const RouteSpec& route : stage.next)
    if (route.kind == wire::EdgeKind::UNLESS_EXITED && stage.exitOutput.empty())
      return Error{fmt::format("{}: an unlessExited route from a stage without an exit head", what)};
  stage.predictedSeconds = reader.getPredictedSeconds();
  if (!std::isfinite(stage.predictedSeconds) || stage.predictedSeconds < 0 || stage.predictedSeconds > 3600)
    return Error{fmt::format("stage {}: predictedSeconds {} is not a time in [0, 3600] s", stage.stage,
                             stage.predictedSeconds)};
  return stage;
}

}  // namespace

const StageSpec* PlanSpec::findStage(uint32_t index) const {
  for (const StageSpec& stage : stages)
    if (stage.stage == index) return &stage;
  return nullptr;
}

const PeerSpec* PlanSpec::findPeer(std::string_view name) const {
  for (const PeerSpec& peer : peers)
    if (peer.name == name) return &peer;
  return nullptr;
}

Result<ValueInfo> decodeTensorSpec(wire::TensorSpec::Reader reader) {
  ValueInfo value;
  Result<std::string> name = readText(reader.getName(), MAX_TENSOR_NAME, "tensor name");
  if (!name) return name.error();
  if (name->empty()) return Error{"tensor spec without a name"};
  value.name = std::move(*name);
  std::optional<DType> dtype = fromWireDType(reader.getDtype());
  if (!dtype)
    return Error{fmt::format("tensor '{}': unknown dtype {}", value.name, static_cast<uint16_t>(reader.getDtype()))};
  auto dims = reader.getShape();
  if (dims.size() > MAX_TENSOR_RANK)
    return Error{
        fmt::format("tensor '{}': rank {} exceeds the limit of {}", value.name, dims.size(), MAX_TENSOR_RANK)};
  value.type.dtype = *dtype;
  for (int64_t dim : dims) {
    if (dim <= 0) return Error{fmt::format("tensor '{}': dimension {} must be positive", value.name, dim)};
    value.type.shape.push_back(dim);
  }
  return value;
}

void encodeTensorSpec(const ValueInfo& value, wire::TensorSpec::Builder builder) {
  builder.setName(value.name);
  builder.setDtype(toWireDType(value.type.dtype).value_or(wire::DType::UNDEFINED));
  auto dims = builder.initShape(static_cast<unsigned>(value.type.shape.size()));
  for (size_t i = 0; i < value.type.shape.size(); ++i) dims.set(static_cast<unsigned>(i), value.type.shape[i]);
}

Result<PlanSpec> decodePlanPush(wire::PlanPush::Reader reader) {
  return decodeGuard("plan push", [&]() -> Result<PlanSpec> {
    PlanSpec plan;
    plan.epoch = reader.getEpoch();
    if (plan.epoch == 0) return Error{"plan epoch 0 (epochs start at 1)"};
    plan.strategy = reader.getStrategy();
    if (strategyName(plan.strategy) == "unknown")
      return Error{fmt::format("unknown strategy {}", static_cast<uint16_t>(plan.strategy))};
    Result<std::string> model = readText(reader.getModel(), MAX_MODEL_NAME_BYTES, "model");
    if (!model) return model.error();
    plan.model = std::move(*model);

    auto stages = reader.getStages();
    if (stages.size() > MAX_PLAN_STAGES)
      return Error{fmt::format("{} stages exceed the limit of {}", stages.size(), MAX_PLAN_STAGES)};
    for (auto stage : stages) {
      Result<StageSpec> decoded = decodeStage(stage);
      if (!decoded) return decoded.error();
      if (plan.findStage(decoded->stage)) return Error{fmt::format("stage {} assigned twice", decoded->stage)};
      plan.stages.push_back(std::move(*decoded));
    }

    auto peers = reader.getPeers();
    if (peers.size() > MAX_PLAN_PEERS)
      return Error{fmt::format("{} peers exceed the limit of {}", peers.size(), MAX_PLAN_PEERS)};
    for (auto peer : peers) {
      PeerSpec spec;
      Result<std::string> name = readText(peer.getName(), MAX_NAME_BYTES, "peer name");
      if (!name) return name.error();
      if (name->empty()) return Error{"peer without a name"};
      spec.name = std::move(*name);
      Result<CurveKey> key = readKey32(peer.getPublicKey(), fmt::format("peer '{}' key", spec.name));
      if (!key) return key.error();
      spec.publicKey = *key;
      Result<std::string> endpoint =
          readText(peer.getDataEndpoint(), MAX_ENDPOINT_BYTES, fmt::format("peer '{}' endpoint", spec.name));
      if (!endpoint) return endpoint.error();
      if (endpoint->empty()) return Error{fmt::format("peer '{}' has no data endpoint", spec.name)};
      spec.dataEndpoint = std::move(*endpoint);
      if (plan.findPeer(spec.name)) return Error{fmt::format("peer '{}' listed twice", spec.name)};
      plan.peers.push_back(std::move(spec));
    }

    Result<RouteSpec> entry = decodeRoute(reader.getEntry(), "entry");
    if (!entry) return entry.error();
    plan.entry = std::move(*entry);
    plan.abandonBefore = reader.getAbandonBefore();
    if (plan.abandonBefore > plan.epoch)
      return Error{fmt::format("abandonBefore {} is above the plan's epoch {}", plan.abandonBefore, plan.epoch)};
    return plan;
  });
}

Status checkPlanFor(const PlanSpec& plan, std::string_view self) {
  auto known = [&](const std::string& agent) { return agent == self || plan.findPeer(agent) != nullptr; };
  if (plan.findPeer(self)) return Error{fmt::format("this agent ('{}') is listed as its own peer", self)};
  // Only an agent with stages can be asked to start requests; others need not know the entry.
  if (!plan.stages.empty() && !known(plan.entry.agent))
    return Error{fmt::format("entry agent '{}' is not a peer", plan.entry.agent)};
  if (plan.entry.agent == self && !plan.findStage(plan.entry.stage))
    return Error{fmt::format("the entry is stage {} on this agent, which the plan does not assign", plan.entry.stage)};
  for (const StageSpec& stage : plan.stages) {
    for (const RouteSpec& route : stage.next) {
      if (!known(route.agent))
        return Error{fmt::format("stage {} sends to '{}', which is not a peer", stage.stage, route.agent)};
      if (route.agent == self && !plan.findStage(route.stage))
        return Error{fmt::format("stage {} sends to stage {} on this agent, which the plan does not assign",
                                 stage.stage, route.stage)};
    }
    for (const RouteSpec& route : stage.upstream)
      if (!known(route.agent))
        return Error{fmt::format("stage {} takes inputs from '{}', which is not a peer", stage.stage, route.agent)};
  }
  return {};
}

void encodePlanPush(const PlanSpec& plan, wire::PlanPush::Builder builder) {
  builder.setEpoch(plan.epoch);
  builder.setStrategy(plan.strategy);
  builder.setModel(plan.model);
  auto stages = builder.initStages(static_cast<unsigned>(plan.stages.size()));
  for (size_t i = 0; i < plan.stages.size(); ++i) {
    const StageSpec& stage = plan.stages[i];
    auto out = stages[static_cast<unsigned>(i)];
    out.setStage(stage.stage);
    out.setGraphHash(dataOf(stage.graphHash));
    out.setGraphBytes(stage.graphBytes);
    auto inputs = out.initInputs(static_cast<unsigned>(stage.inputs.size()));
    for (size_t j = 0; j < stage.inputs.size(); ++j)
      encodeTensorSpec(stage.inputs[j], inputs[static_cast<unsigned>(j)]);
    auto outputs = out.initOutputs(static_cast<unsigned>(stage.outputs.size()));
    for (size_t j = 0; j < stage.outputs.size(); ++j)
      encodeTensorSpec(stage.outputs[j], outputs[static_cast<unsigned>(j)]);
    encodeRoutes(stage.next, out.initNext(static_cast<unsigned>(stage.next.size())));
    encodeRoutes(stage.upstream, out.initUpstream(static_cast<unsigned>(stage.upstream.size())));
    auto zeroed = out.initZeroedInputs(static_cast<unsigned>(stage.zeroedInputs.size()));
    for (size_t j = 0; j < stage.zeroedInputs.size(); ++j) zeroed.set(static_cast<unsigned>(j), stage.zeroedInputs[j]);
    out.setLabel(stage.label);
    out.setChannelsSent(stage.channelsSent);
    out.setExitThreshold(stage.exitThreshold);
    out.setExitOutput(stage.exitOutput);
    out.setPredictedSeconds(stage.predictedSeconds);
  }
  auto peers = builder.initPeers(static_cast<unsigned>(plan.peers.size()));
  for (size_t i = 0; i < plan.peers.size(); ++i) {
    auto out = peers[static_cast<unsigned>(i)];
    out.setName(plan.peers[i].name);
    out.setPublicKey(dataOf(plan.peers[i].publicKey));
    out.setDataEndpoint(plan.peers[i].dataEndpoint);
  }
  encodeRoute(plan.entry, builder.initEntry());
  builder.setAbandonBefore(plan.abandonBefore);
}

}  // namespace cleave::proto

# Control plane: agents <-> daemon (agent DEALER -> daemon ROUTER) and operators <-> daemon
# (cleavectl DEALER -> the daemon's operator ROUTER). Every message is one ControlMessage, a
# single union, so a handler is one `switch (message.which())` with a short handleX per case;
# a case the receiver does not handle (for instance a newer peer's) gets `unimplemented` back.
#
# Framing: frame 0 is the ControlMessage (Cap'n Proto flat array, unpacked). Messages that carry
# tensors or a graph (submit, completed, graphBlob, infer, inferResult) are followed by one raw
# frame per TensorHeader, or by the graph's bytes, exactly as on the data plane (data.capnp).
#
# Units follow the planner: seconds, bytes, bytes per second, joules. Keys are raw 32-byte
# CURVE public keys. Every Text is UTF-8 and bounded by the receiver (docs/protocol.md, Limits).

@0xb2fafb3d418b626e;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("cleave::wire");

using Common = import "common.capnp";

struct ControlMessage {
  union {
    hello @0 :Hello;
    # peer -> daemon, first message on a connection: who is speaking which protocol version.
    helloReply @1 :HelloReply;
    # daemon -> peer: accepted, or refused with a reason (version mismatch, wrong socket).
    register @2 :Register;
    # agent -> daemon, after an accepted hello: name, key, device profile, data endpoint.
    registerReply @3 :RegisterReply;
    # daemon -> agent: accepted or refused; the intervals the agent should report at.
    heartbeat @4 :Heartbeat;
    # agent -> daemon periodically; the daemon answers each with its own heartbeat.
    telemetry @5 :Telemetry;
    # agent -> daemon: link estimates, stage timings, queue depth.
    planPush @6 :PlanPush;
    # daemon -> agent: this agent's share of a new plan epoch.
    planAck @7 :PlanAck;
    # agent -> daemon: the plan epoch is loaded and running, or why not.
    graphRequest @8 :GraphRequest;
    # agent -> daemon: send me the stage graph with this content hash (a cache miss).
    graphBlob @9 :GraphBlob;
    # daemon -> agent: a stage graph; its ONNX bytes follow as frame 1.
    linkShape @10 :LinkShape;
    # daemon -> agent: shape this agent's outgoing link to a peer (from `link set`).
    submit @11 :Submit;
    # daemon -> origin agent: run one inference request; its input tensor frames follow.
    completed @12 :Completed;
    # origin agent -> daemon: a submitted request finished; output tensor frames follow.
    operatorRequest @13 :OperatorRequest;
    # cleavectl -> daemon (operator socket only).
    operatorReply @14 :OperatorReply;
    # daemon -> cleavectl (operator socket only).
    unimplemented @15 :Unimplemented;
    # either direction: the receiver does not handle the message kind it was sent.
  }
}

struct Hello {
  protocolVersion @0 :UInt32;
  # The sender's PROTOCOL_VERSION (common.capnp). A different version is refused in HelloReply.
  role @1 :Role;
  # What the sender is. The daemon admits agents only on its agent socket and operators only on
  # its operator socket.
  name @2 :Text;
  # Agent name (as in the topology) or an operator label, for logs. At most 64 bytes.
  software @3 :Text;
  # Free-form build description ("cleave 0.3 (abc123)") for logs. At most 64 bytes.

  enum Role {
    agent @0;     # a cleave-agent
    operator @1;  # cleavectl or another operator tool
  }
}

struct HelloReply {
  protocolVersion @0 :UInt32;
  # The daemon's PROTOCOL_VERSION, so a refused peer can say which version it needs.
  accepted @1 :Bool;
  # False: the daemon ignores everything else from this connection until a new hello.
  reason @2 :Text;
  # Why the hello was refused ("protocol version 2, daemon speaks 1"); empty when accepted.
}

struct DeviceProfile {
  # What the planner needs to know about a device (planner/fleet.h's DeviceProfile).
  kind @0 :Text;
  # "mcu", "pi", "cloud" or any label; informational. At most 32 bytes.
  macsPerSecond @1 :OpClassRates;
  # Sustained multiply-accumulates per second for each class of op; every rate > 0.
  nodeOverheadSeconds @2 :Float64;
  # Fixed cost of running one graph node (dispatch, cache misses); >= 0.
  ramBytes @3 :UInt64;
  # Memory available for weights (unless flashBytes > 0) and activations; > 0.
  flashBytes @4 :UInt64;
  # Read-only memory weights can live in; 0 when the device has none (weights go to RAM).
  joulesPerMac @5 :Float64;
  # Energy of one multiply-accumulate; >= 0 (0 when unknown).
  radioJoulesPerByte @6 :Float64;
  # Energy to send one byte from this device; >= 0 (0 when unknown).
  measured @7 :Bool;
  # True when the rates come from the agent's self-benchmark, false when declared in its config.
}

struct OpClassRates {
  # MAC/s per op class (runtime/op.h's OpClass), each > 0 and finite.
  conv @0 :Float64;         # dense convolutions
  depthwise @1 :Float64;    # depthwise convolutions
  gemm @2 :Float64;         # matrix products (Gemm, MatMul, fully connected)
  elementwise @3 :Float64;  # elementwise and pooling ops, counted per output element
  other @4 :Float64;        # everything else
}

struct Register {
  name @0 :Text;
  # The agent's name as the topology lists it. At most 64 bytes.
  publicKey @1 :Data;
  # The agent's 32-byte CURVE public key. Must equal both the key the topology lists for `name`
  # and the key this connection authenticated with (the ZAP User-Id of the frames).
  profile @2 :DeviceProfile;
  # The device's speeds and budgets, measured or declared.
  dataEndpoint @3 :Text;
  # Where this agent's data-plane ROUTER listens, as peers should connect to it
  # ("tcp://10.0.0.5:5601"). At most 256 bytes.
}

struct RegisterReply {
  accepted @0 :Bool;
  # False: unknown name, key mismatch or a duplicate registration; the agent should stop.
  reason @1 :Text;
  # Why the registration was refused; empty when accepted.
  heartbeatSeconds @2 :Float64;
  # Interval at which the agent sends heartbeats; the daemon declares an agent dead after
  # several missed intervals.
  telemetrySeconds @3 :Float64;
  # Minimum interval between telemetry reports; a significant change may be reported sooner.
  stallSeconds @4 :Float64;
  # The compute thread counts as stalled when it has had work and finished nothing for this long
  # (or for ten times the running stage's predicted time, if longer). 0: the agent's default, 30 s.
}

struct Heartbeat {
  sequence @0 :UInt64;
  # Increases by one per heartbeat from this sender; the reply echoes the request's value.
  epoch @1 :UInt64;
  # From an agent: the newest plan epoch it runs. From the daemon: the current epoch, so an
  # agent that missed a push notices and asks again by re-registering.
  inFlight @2 :UInt32;
  # Requests the sender currently holds (as origin or inside a stage); 0 from the daemon.
  stalled @3 :Text;
  # From an agent: empty while its compute thread moves; otherwise what has stopped moving
  # ("stage 1 of request 42 (epoch 3) running for 31.2 s"). The daemon plans without a stalled
  # agent, as if it were down, and plans it back in when a heartbeat comes without this. At most
  # 256 bytes.
}

struct Telemetry {
  epoch @0 :UInt64;
  # Plan epoch the timings below were measured under.
  links @1 :List(LinkEstimate);
  # Current estimates of this agent's outgoing links, one per peer. At most 64.
  stages @2 :List(StageTiming);
  # Timings of the stages this agent ran since the previous report. At most 64.
  queueDepth @3 :UInt32;
  # Requests waiting on this agent for a stage to start.
}

struct LinkEstimate {
  peer @0 :Text;
  # Name of the agent at the other end. At most 64 bytes.
  bytesPerSecond @1 :Float64;
  # Smoothed bandwidth from this agent to the peer; > 0.
  rttSeconds @2 :Float64;
  # Smoothed round-trip time; >= 0.
  samples @3 :UInt32;
  # Transfers (or probes) behind the estimate since the previous report.
  source @4 :Source;
  # How the latest samples were taken.

  enum Source {
    passive @0;  # timed real transfers against their acknowledgements
    probe @1;    # light active probes on an idle link
  }
}

struct StageTiming {
  stage @0 :UInt32;
  # Stage index in the epoch's plan.
  runs @1 :UInt32;
  # Times the stage ran since the previous report.
  meanSeconds @2 :Float64;
  # Mean compute time of those runs (queueing excluded).
  maxSeconds @3 :Float64;
  # Slowest of those runs.
}

enum Strategy {
  # The ways of spreading a model over devices (docs/architecture.md, design.md).
  split @0;      # a chain of stages cut to minimise latency or energy
  clio @1;       # head on the device, tail in the cloud, channels sent progressively
  nonn @2;       # independent students per device, features fused on one
  earlyExit @3;  # blocks with exit heads; confident inputs stop early
}

struct PlanPush {
  epoch @0 :UInt64;
  # Plan version, increasing. An agent ignores a push whose epoch is not above the newest it
  # runs, and acks it with accepted = false.
  strategy @1 :Strategy;
  # Which strategy the plan implements (decides what `next`, channelsSent and exitThreshold mean).
  model @2 :Text;
  # Model bundle name, for logs. At most 128 bytes.
  stages @3 :List(StageAssignment);
  # The stages this agent runs under this epoch; may be empty (the agent only originates
  # requests or idles). At most 64.
  peers @4 :List(Peer);
  # Every agent this one exchanges activations with under this epoch, with its key. It is
  # exactly the set of keys the agent's data-plane ZAP handler admits. At most 64.
  entry @5 :Route;
  # Where an origin agent sends a request's input: the first stage and its agent.
  abandonBefore @6 :UInt64;
  # Requests that started under an epoch below this and are still pending at their origin are
  # run again under this epoch (an agent of those epochs is gone). 0: earlier epochs drain.
}

struct StageAssignment {
  stage @0 :UInt32;
  # Index of the stage in the epoch's plan; data messages name stages by this index.
  graphHash @1 :Data;
  # 32-byte BLAKE2b-256 of the stage's ONNX bytes; the agent's graph cache key. A graph not in
  # the cache is fetched with graphRequest before the plan is acked.
  graphBytes @2 :UInt64;
  # Size of the stage's ONNX bytes, so the agent can refuse a graph it cannot hold before
  # fetching it.
  inputs @3 :List(Common.TensorSpec);
  # The stage graph's inputs in order; incoming tensor frames are checked against these.
  outputs @4 :List(Common.TensorSpec);
  # The stage graph's outputs in order.
  next @5 :List(Route);
  # Where the outputs go. Empty: this is a last stage; its outputs go back to the request's
  # origin as a `result`. Several routes fan out (nonn students to fusion, early-exit blocks).
  channelsSent @6 :UInt32;
  # clio: channels of each output sent per request, first ones first; 0 sends all.
  exitThreshold @7 :Float32;
  # early_exit: with exitOutput set, a request ends here when its confidence (the largest
  # softmax probability of exitOutput, computed in float32) is at least this; 0: every request
  # ends here, above 1: none does.
  predictedSeconds @8 :Float64;
  # The planner's compute time for this stage on this agent's declared profile. An agent that
  # paces compute (agent.toml `pace_compute`, for testbeds on fast hardware) makes each run of
  # the stage last at least this long.
  upstream @9 :List(Route);
  # Where the stage's inputs come from: one route per sending stage, `tensors` naming what it
  # sends (the inverse of the senders' `next`). Empty: the entry stage, fed by the origin. With
  # more than one route, or any zeroedInputs, inputs arrive in several messages and the agent
  # gathers them per request (bounded in count, bytes and time; a set still partial when the
  # time is up fails back to the origin). At most 16.
  zeroedInputs @10 :List(Text);
  # Inputs no stage sends under this plan (nonn: students no device could take). The stage runs
  # with zeros of the declared type in their place, and its result names them. At most 16.
  label @11 :Text;
  # What the stage runs, for logs: "nodes 0-11", "student 2", "fusion", "relay". At most 64 bytes.
  exitOutput @12 :Text;
  # early_exit: the output of this stage's exit head (class scores, float32), one of `outputs`;
  # empty: no exit head. A request that ends here sends exitOutput alone to its origin as the
  # result (with this stage as the exit stage) and nothing along `next`; one that goes on sends
  # along `next` and no result. Only a stage with an exit head may have unlessExited routes.
}

struct Route {
  agent @0 :Text;
  # Name of the receiving agent (one of PlanPush.peers, or this agent itself). At most 64 bytes.
  stage @1 :UInt32;
  # Stage index the tensors are inputs of on that agent.
  tensors @2 :List(Text);
  # Names of the outputs sent along this route; empty sends them all. At most 16.
  kind @3 :EdgeKind;
  # When tensors travel this route.
}

enum EdgeKind {
  always @0;         # every request
  unlessExited @1;   # early_exit: requests the sending stage's exit head did not finish
  channelPrefix @2;  # clio: a prefix of the channels, in slices, until the receiver's deadline
}

struct Peer {
  name @0 :Text;
  # Agent name. At most 64 bytes.
  publicKey @1 :Data;
  # The peer's 32-byte CURVE public key: admitted by this agent's ZAP handler, and used as the
  # server key when connecting to the peer.
  dataEndpoint @2 :Text;
  # Where the peer's data-plane ROUTER listens. At most 256 bytes.
}

struct PlanAck {
  epoch @0 :UInt64;
  # The epoch of the push being acknowledged.
  accepted @1 :Bool;
  # True: every stage is loaded and the agent now starts new requests under this epoch. False:
  # the agent keeps running its previous epoch.
  reason @2 :Text;
  # Why the plan was not accepted (graph hash mismatch, out of memory); empty when accepted.
}

struct GraphRequest {
  hash @0 :Data;
  # 32-byte BLAKE2b-256 of the wanted stage graph (a StageAssignment.graphHash).
}

struct GraphBlob {
  hash @0 :Data;
  # 32-byte BLAKE2b-256 of the graph bytes in frame 1; the agent recomputes it and drops a
  # mismatch.
  byteLength @1 :UInt64;
  # Length of frame 1; checked against StageAssignment.graphBytes and the agent's cap.
  found @2 :Bool;
  # False when the daemon no longer has that graph (an old epoch); frame 1 is then empty.
}

struct TracePoint {
  # One step of a bandwidth trace: from `seconds` on, the link runs at these figures.
  seconds @0 :Float64;         # time since the trace started; increasing
  bytesPerSecond @1 :Float64;  # bandwidth; >= 0 (0: a drop-out; not every point may be 0)
  rttSeconds @2 :Float64;      # round-trip time added by the shaper; >= 0
}

struct LinkShape {
  peer @0 :Text;
  # The agent at the other end of the shaped (outgoing) direction. At most 64 bytes.
  bytesPerSecond @1 :Float64;
  # Constant bandwidth; 0 removes shaping. Ignored when `trace` is not empty.
  rttSeconds @2 :Float64;
  # Constant added round-trip time; >= 0. Ignored when `trace` is not empty.
  trace @3 :List(TracePoint);
  # A bandwidth trace to replay instead of constant figures (repeats at its end). At most 10000.
}

struct Submit {
  requestId @0 :UInt64;
  # Chosen by the daemon, unique among this origin's requests.
  tensors @1 :List(Common.TensorHeader);
  # The model's inputs; one frame each follows. At most 16.
}

struct Completed {
  requestId @0 :UInt64;
  # The submitted request's id.
  epoch @1 :UInt64;
  # Plan epoch the request ran under.
  union {
    outputs @2 :List(Common.TensorHeader);
    # The model's outputs; one frame each follows. At most 16.
    failed @3 :Text;
    # The request could not complete under any plan; why. At most 256 bytes.
  }
  exitStage @4 :UInt32;
  # The stage whose outputs are the result (early_exit: where the request stopped).
  zeroedInputs @5 :List(Text);
  # Inputs the result was computed without, zeros in their place (nonn: the features of
  # students the plan left out). Empty: nothing was missing. At most 16.
}

struct OperatorRequest {
  id @0 :UInt64;
  # Chosen by the operator tool; echoed in every reply to this request.
  union {
    status @1 :Void;
    # A summary of the fleet (reply: status).
    agents @2 :Void;
    # Every agent in the topology and its state (reply: agents).
    planShow @3 :Void;
    # The current plan (reply: plan).
    planApply @4 :PlanApply;
    # Install a plan by hand (reply: plan, with the new epoch).
    replan @5 :Replan;
    # Run the planner now (reply: plan).
    infer @6 :Infer;
    # Run one request on the fleet; input tensor frames follow (reply: inferResult).
    watch @7 :Watch;
    # Stream events until the operator disconnects (replies: event, final = false).
    linkSet @8 :LinkSet;
    # Pin or release the daemon's estimate of a link, or shape it in the sending agent (reply: done).
  }
}

struct PlanApply {
  toml @0 :Text;
  # A plan in TOML (parsed and checked by the daemon with the planner's validity checker):
  # strategy = "split", route = [device names], cuts = [positions]; or strategy = "nonn",
  # students = [a device name per student, "" for one left out], fusion = device name; or
  # strategy = "early_exit", blocks = [a device name per block], thresholds = [one per exit but the last].
  # `cleavectl plan apply` turns `cleavectl plan --json` output into this. At most 64 KiB.
  dryRun @1 :Bool;
  # Check and cost the plan without installing it.
}

struct Replan {
  force @0 :Bool;
  # Adopt the planner's best plan even when it does not beat the current one by the hysteresis
  # margin.
}

struct Infer {
  tensors @0 :List(Common.TensorHeader);
  # The model's inputs; one frame each follows. At most 16.
  timeoutSeconds @1 :Float64;
  # Give up (reply error) after this long; 0 uses the daemon's default.
}

struct Watch {
  telemetry @0 :Bool;   # stream every agent's telemetry
  plans @1 :Bool;       # stream plan changes
  agents @2 :Bool;      # stream agents coming and going, and refused connections
}

struct LinkSet {
  from @0 :Text;
  # Sending agent. At most 64 bytes.
  to @1 :Text;
  # Receiving agent. At most 64 bytes. The direction from -> to must be a topology link.
  union {
    pin @2 :LinkPin;
    # Plan with these figures for from -> to instead of the agents' measurements, until cleared;
    # the daemon re-plans at once.
    clear @3 :Void;
    # Release a pin: measurements (or the topology's figures) count again.
    shape @4 :LinkShape;
    # Shape the link in the sending agent's in-process shaper; `shape.peer` is ignored (it is `to`).
  }
}

struct LinkPin {
  bytesPerSecond @0 :Float64;
  # > 0.
  rttSeconds @1 :Float64;
  # >= 0; negative keeps the current estimate's RTT.
}

struct OperatorReply {
  id @0 :UInt64;
  # The request's id.
  final @1 :Bool;
  # False while more replies to this id follow (watch events); true on the last one.
  union {
    error @2 :Text;
    # The request failed: what and why. At most 1024 bytes.
    status @3 :FleetStatus;
    # Reply to status.
    agents @4 :List(AgentInfo);
    # Reply to agents. At most 1024.
    plan @5 :PlanSummary;
    # Reply to planShow, planApply and replan.
    inferResult @6 :InferResult;
    # Reply to infer; output tensor frames follow.
    event @7 :WatchEvent;
    # One event of a watch.
    done @8 :Void;
    # The request succeeded and has nothing to report (linkSet).
  }
}

struct FleetStatus {
  epoch @0 :UInt64;                     # current plan epoch (0: no plan yet)
  strategy @1 :Strategy;                # strategy of the current plan
  agentsOnline @2 :UInt32;              # registered and heartbeating
  agentsKnown @3 :UInt32;               # listed in the topology
  requestsCompleted @4 :UInt64;         # since the daemon started
  requestsFailed @5 :UInt64;            # since the daemon started
  droppedMessages @6 :UInt64;           # malformed or unexpected messages dropped by the daemon
  refusedConnections @7 :UInt64;        # ZAP refusals (unknown keys, wrong mechanism)
  predictedLatencySeconds @8 :Float64;  # the current plan's predicted end-to-end latency
  requestsReceived @9 :UInt64;          # infer requests accepted since the daemon started
  replans @10 :UInt64;                  # plans installed since the daemon started
  plan @11 :PlanSummary;                # the current plan (unset: no plan yet)
}

struct AgentInfo {
  name @0 :Text;                 # as in the topology
  fingerprint @1 :Text;          # short hex fingerprint of its public key (as in logs)
  online @2 :Bool;               # registered and heartbeating
  lastSeenSeconds @3 :Float64;   # since its last message (0 when never seen)
  epoch @4 :UInt64;              # newest epoch it acknowledged
  queueDepth @5 :UInt32;         # from its latest telemetry
  profile @6 :DeviceProfile;     # as registered (default when never registered)
  dataEndpoint @7 :Text;         # as registered
  stages @8 :Text;               # what it holds under the current plan ("stage 1: nodes 2-3", "stage 0: relays"; empty when idle)
  stalled @9 :Text;              # what stopped moving on its compute thread (Heartbeat.stalled); empty when it moves
}

struct PlanSummary {
  epoch @0 :UInt64;                    # the plan's epoch (0 for a dry run)
  strategy @1 :Strategy;               # its strategy
  predictedLatencySeconds @2 :Float64; # one request, end to end
  predictedEnergyJoules @3 :Float64;   # one request, all devices
  stages @4 :List(StageSummary);       # in route order. At most 64.
  installed @5 :Bool;                  # false for a dry run or a plan that did not beat the current one
  edges @6 :List(EdgeSummary);         # empty for a path (split): stage i sends to stage i + 1
  missing @7 :List(Text);              # nonn: students no device could take ("student 2")
  expectedAccuracy @8 :Float64;        # where the strategy trades accuracy; 0: not known
  exitThresholds @9 :List(Float64);    # early_exit: each exit's threshold but the last's, in block order
  exitFractions @10 :List(Float64);    # early_exit: expected fraction of requests finishing at each block
}

struct EdgeSummary {
  from @0 :UInt32;              # sending stage
  to @1 :UInt32;                # receiving stage
  tensors @2 :List(Text);       # what travels
  bytes @3 :Int64;              # per request
  transferSeconds @4 :Float64;  # predicted; 0 within one device
  kind @5 :EdgeKind;
}

struct StageSummary {
  stage @0 :UInt32;            # stage index
  agent @1 :Text;              # agent running it
  firstNode @2 :Int64;         # first node in the model's execution order
  endNode @3 :Int64;           # one past its last node (== firstNode: the agent only relays)
  computeSeconds @4 :Float64;  # predicted compute time
  sendBytes @5 :Int64;         # bytes sent to the next stage
  label @6 :Text;              # what it runs: "nodes 0-11", "student 2", "fusion", "block 1", "relay"
}

struct InferResult {
  requestId @0 :UInt64;          # the id the daemon gave the request
  epoch @1 :UInt64;              # plan epoch it ran under
  latencySeconds @2 :Float64;    # measured by the daemon, submit to completion
  exitStage @3 :UInt32;          # stage whose outputs are the result
  tensors @4 :List(Common.TensorHeader);
  # The model's outputs; one frame each follows. At most 16.
  zeroedInputs @5 :List(Text);   # as Completed.zeroedInputs: empty unless the result is degraded
}

struct WatchEvent {
  union {
    telemetry :group {
      # An agent's telemetry report, as it arrived.
      agent @0 :Text;            # who reported
      report @1 :Telemetry;      # what it reported
    }
    plan @2 :PlanSummary;        # a plan was installed
    agentUp @3 :Text;            # an agent registered (its name)
    agentDown @4 :Text;          # an agent missed its heartbeats (its name)
    refusal :group {
      # A connection the ZAP handler refused.
      fingerprint @5 :Text;      # fingerprint of the refused key
      address @6 :Text;          # peer address as ZAP saw it
      reason @7 :Text;           # why (unknown key, mechanism)
    }
    result :group {
      # A request finished (any operator's): what ran where and how long it took.
      requestId @8 :UInt64;       # the daemon's id of the request
      epoch @9 :UInt64;           # plan epoch it ran under
      latencySeconds @10 :Float64;  # submit to completion, on the daemon's clock
      failed @11 :Text;           # empty on success; why it failed otherwise
      zeroedInputs @14 :List(Text);  # as Completed.zeroedInputs
    }
  }
  reason @12 :Text;
  # For plan events: why the plan changed ("agent b down", "link a-b moved from 20 to 2 Mbps").
  previousPredictedSeconds @13 :Float64;
  # For plan events: the replaced plan's predicted latency under the estimates that made the
  # change (0 when there was no plan or it could no longer run).
}

struct Unimplemented {
  which @0 :UInt16;
  # The ControlMessage (or OperatorRequest) discriminant the receiver does not handle.
}
